"""Everything that comes in: OpenStreetMap (files and Overpass), tables, areas, rasters."""
