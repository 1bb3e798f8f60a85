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

# moto's EventBridge flattens an event's objects into dotted keys but stops at arrays, so
# a pattern that reaches into an array of objects never matches. EventBridge matches
# such a pattern when any element matches (e.g. `CloudWatch Alarm State Change` has
# `detail.configuration.metrics[].metricStat.metric.name`). This teaches the flattening
# to collect, for each dotted key under an array of objects, the list of its values,
# which moto's matcher already treats as "any of".
try:
    from moto.events.models import EventPattern as _EventPattern

    _original_flatten = _EventPattern._flatten_dict

    def _flatten_with_arrays(node, prefix="", result=None):
        result = _original_flatten(node, prefix, result)
        for key, value in list(result.items()):
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                collected = {}
                for element in value:
                    for k, v in _flatten_with_arrays(element, key).items():
                        collected.setdefault(k, []).extend(v if isinstance(v, list) else [v])
                result.update(collected)
        return result

    _EventPattern._flatten_dict = staticmethod(_flatten_with_arrays)
except Exception:  # a moto without this class: nothing to teach
    pass
