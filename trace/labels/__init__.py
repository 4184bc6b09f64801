"""Labels for the pack: commission serialized items, then print one QR code (GS1 Digital Link) each.

``commission``: draws the serials, signs and records the commissioning events, and drives the
outputs (``render`` in it computes each QR matrix once and hands it to them). ``render``: the
outputs themselves, an SVG file per label, an A4 PDF sheet, a ZIP of PNGs. ``logistics``: the
GS1 logistic labels of pallets (SSCC) and cases as PDF, from the unit tables (what they say is
decided in ``core/logisticlabel.py``).
"""

__all__ = ["commission", "logistics", "render"]
