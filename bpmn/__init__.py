"""Shipped diagrams and the demo org: data, a package only so that an installed wheel
carries them and importlib.resources finds them (`dutyflow serve --demo`, services/demo.py)."""
