"""Saved tuning results (provider option `plan_file`), like a TensorRT engine or
SoftNeuro's tuned model: the routine chosen for each layer, per input-shape
key, valid for one model structure on one machine. A file that does not match
(another model, machine or engine version) or cannot be read is re-tuned and
rewritten; an unreadable one also warns."""
import hashlib
import json
import os
import warnings


FORMAT = 1


def graph_digest(g):
    """Structure of the graph: ops, wiring, attributes, initializer shapes and dtypes (not values)."""
    h = hashlib.sha1()
    for n in g.nodes:
        h.update(repr((n.op, n.inputs, n.outputs, sorted((k, repr(v)) for k, v in n.attrs.items()
                                                          if not hasattr(v, "SerializeToString")))).encode())
    for name in sorted(g.initializers):
        a = g.initializers[name]
        h.update(repr((name, a.shape, str(a.dtype))).encode())
    h.update(repr([(v.name, v.shape) for v in g.inputs + g.outputs]).encode())
    return h.hexdigest()


class PlanFile:
    def __init__(self, path, digest, machine, engine_version):
        self.path = path
        self.header = {"format": FORMAT, "model": digest, "machine": machine, "engine": engine_version}
        self.plans = {}
        if os.path.exists(path):
            try:
                with open(path) as f:
                    data = json.load(f)
                if all(data.get(k) == v for k, v in self.header.items()):
                    self.plans = data.get("plans", {})
            except (OSError, ValueError, AttributeError) as e:
                warnings.warn(f"softneuro_ep: plan file {path} is unreadable ({e}); it will be re-tuned and rewritten")

    @staticmethod
    def key(shapes, overrides):
        return json.dumps([list(map(list, shapes)), list(overrides)])

    def lookup(self, key):
        return self.plans.get(key)

    def store(self, key, choice):
        self.plans[key] = dict(choice)
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(dict(self.header, plans=self.plans), f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
