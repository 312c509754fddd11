"""Performance models: the roofline cost model (:mod:`.roofline`), the host's roofs calibrated on the spot
(:mod:`.host_roofs`), and the device and model catalogs (:mod:`.devices`, :mod:`.models`)."""
