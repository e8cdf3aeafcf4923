"""Helpers shared by tests, imported as `tests.support.<module>`:

- `paths`: the repository root and the real datasets beside it;
- `scoring`: a trained champion, its registry row and an API client over real HTTP;
- `production`: processes, ports and servers the production tests start and stop;
- `lender_files`: generators of lender files of every shape the platform is promised to take;
- `export_variants` (with `export_files`): the same clean file as lenders' systems export it
  (dialects, encodings, banner lines, date styles, workbooks, archives, odd headers);
- `core_banking`: the demo's bank transactions as a German core-banking export.
"""
