"""Reports and tooling beside the library: comparison tables (``compare``), plots
(``plots``), plan pictures (``viz``), the README's generated tables (``readme``, run as
``python -m anyres.reports.readme``), the demo job (``demo``) and its built-in sample
images (``samples``)."""
