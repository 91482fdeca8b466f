"""Studies that reproduce the seed paper's figures (gradient-estimation scaling, ...)."""
