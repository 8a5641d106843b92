"""Standards in and out: publiccode.yml for apps, DCAT-AP 3 for datasets, and
harvesting from CKAN portals."""
