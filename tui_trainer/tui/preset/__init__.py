"""The presets: the list to open, the editor (form and raw TOML), and the learning-rate finder."""
