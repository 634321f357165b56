"""qipstudy: the logic of the Sauter (2022) reproduction workflow (retrieve, prepare, covariates, render)."""
