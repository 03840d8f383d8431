"""`rubicon build`: model → verified accelerator project, stage by stage, with a manifest."""
