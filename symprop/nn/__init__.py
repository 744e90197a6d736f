"""symprop.nn (placeholder on branch ref14 so that symprop.nn.reference imports; the layer helper owns it)."""
