SOURCE_FORMATS = {}
class GenerationSummary: pass
def generate(): pass
