# Test harness only, loaded into moto_server through PYTHONPATH (see test/harness/moto.ts).
# moto's EventBridge compiles the same JSONPath expressions again for every event and
# rule it routes (about 10 ms each), which makes one PutEvents call take seconds.
# Caching the compiled expressions changes no behaviour: they are stateless.
import functools

try:
    import jsonpath_ng.ext as _jsonpath_ext

    _jsonpath_ext.parse = functools.lru_cache(maxsize=512)(_jsonpath_ext.parse)
except Exception:  # an older or newer moto without jsonpath_ng: nothing to speed up
    pass
