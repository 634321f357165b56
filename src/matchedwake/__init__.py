"""matchedwake: Matched Wake Analysis (Schutte & Donnay 2014), a Python port of R `mwa` 0.5.0."""
