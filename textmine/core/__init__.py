"""The ground floor: configuration, registries, errors, progress, process pools, the large-corpus plan, periods,
files and the cache folder."""
