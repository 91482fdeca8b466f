"""Studies: the seed paper's figures as commands (gradient-estimation scaling, the τθ trade-off on any chip),
the milestones of a run, and the diagnosis of a run that did not learn."""
