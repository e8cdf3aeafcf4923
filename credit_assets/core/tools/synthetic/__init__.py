"""Synthetic alternative data for thin-file borrowers, with a known true probability of default.

`generate_frames` builds clean in-memory frames for a slice of borrowers;
`generate` streams any number of borrowers into a landing zone, chunk by chunk,
optionally with dirty rows and badly formed files for the ingestion layer to
set aside. The ground truth (true PD and latent creditworthiness) is written
apart from the landing zone: no model reads it, evaluation does. The generative
process and its formulas are documented in docs/DATA.md.
"""

from credit_assets.core.tools.synthetic.frames import DEFAULT_END_DATE, generate_frames
from credit_assets.core.tools.synthetic.population import PlantedDisparity
from credit_assets.core.tools.synthetic.writer import SOURCE_FORMATS, GenerationSummary, generate

__all__ = [
    "DEFAULT_END_DATE",
    "SOURCE_FORMATS",
    "GenerationSummary",
    "PlantedDisparity",
    "generate",
    "generate_frames",
]
