"""The built-in device catalog: one YAML file per device, grouped by kind (installed as ``roofline.devices``)."""
