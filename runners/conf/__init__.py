"""The runner's Hydra config tree (a package so that Hydra can find it with initialize_config_module)."""
