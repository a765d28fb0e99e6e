"""Grid Engine (SGE, Son of Grid Engine, OGS) backend for lrms."""
