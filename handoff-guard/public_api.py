#!/usr/bin/env python3
"""The crate's public API, one line per item, from rustdoc's JSON.

Reads target/doc/handoff_guard.json (written by public-api.sh) and prints
every item a user can name from outside: modules, re-exports at their
public path, struct fields, enum variants, functions and methods with
their signatures, constants with their types, trait items, and the traits
each public type implements. Sorted, so a diff is the API change.
"""
import json
import sys

KNOWN_FORMATS = {57}


def render(t):
    """A rustdoc JSON type, as Rust source would write it."""
    if t is None:
        return "()"
    (kind, v), = t.items()
    if kind == "primitive":
        return v
    if kind == "generic":
        return v
    if kind == "resolved_path":
        return v["path"] + render_args(v.get("args"))
    if kind == "borrowed_ref":
        life = (v["lifetime"] + " ") if v.get("lifetime") else ""
        mut = "mut " if v["is_mutable"] else ""
        return f"&{life}{mut}{render(v['type'])}"
    if kind == "raw_pointer":
        return ("*mut " if v["is_mutable"] else "*const ") + render(v["type"])
    if kind == "slice":
        return f"[{render(v)}]"
    if kind == "array":
        return f"[{render(v['type'])}; {v['len']}]"
    if kind == "tuple":
        return "(" + ", ".join(render(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if kind == "impl_trait":
        return "impl " + " + ".join(render_bound(b) for b in v)
    if kind == "dyn_trait":
        parts = [p["trait"]["path"] + render_args(p["trait"].get("args")) for p in v["traits"]]
        if v.get("lifetime"):
            parts.append(v["lifetime"])
        return "dyn " + " + ".join(parts)
    if kind == "qualified_path":
        trait = v.get("trait")
        base = render(v["self_type"])
        if trait:
            return f"<{base} as {trait['path']}>::{v['name']}"
        return f"{base}::{v['name']}"
    if kind == "function_pointer":
        sig = v["sig"]
        args = ", ".join(render(a[1]) for a in sig["inputs"])
        out = sig.get("output")
        return f"fn({args})" + (f" -> {render(out)}" if out else "")
    if kind == "infer":
        return "_"
    return f"<{kind}>"


def render_args(args):
    if not args:
        return ""
    (kind, v), = args.items()
    if kind == "angle_bracketed":
        parts = []
        for a in v["args"]:
            (k, x), = a.items()
            parts.append(render(x) if k == "type" else (x if isinstance(x, str) else str(x)))
        for c in v.get("constraints", []):
            binding = c["binding"]
            if "equality" in binding:
                parts.append(f"{c['name']} = {render(binding['equality'].get('type'))}")
            else:
                parts.append(f"{c['name']}: " + " + ".join(render_bound(b) for b in binding["constraint"]))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if kind == "parenthesized":
        out = v.get("output")
        return "(" + ", ".join(render(x) for x in v["inputs"]) + ")" + (f" -> {render(out)}" if out else "")
    return ""


def render_bound(b):
    (kind, v), = b.items()
    if kind == "trait_bound":
        return v["trait"]["path"] + render_args(v["trait"].get("args"))
    if kind == "outlives":
        return v
    return kind


def render_generics(g):
    params = []
    for p in g.get("params", []):
        (kind, v), = p["kind"].items()
        if kind == "lifetime":
            params.append(p["name"])
        elif kind == "type":
            if v.get("is_synthetic"):
                continue
            bounds = " + ".join(render_bound(b) for b in v.get("bounds", []))
            params.append(p["name"] + (f": {bounds}" if bounds else ""))
        elif kind == "const":
            params.append(f"const {p['name']}: {render(v['type'])}")
    where = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            where.append(render(bp["type"]) + ": " + " + ".join(render_bound(b) for b in bp["bounds"]))
    return ("<" + ", ".join(params) + ">" if params else ""), (" where " + ", ".join(where) if where else "")


def signature(name, f):
    sig = f["sig"]
    gen, where = render_generics(f["generics"])
    args = []
    for arg_name, ty in sig["inputs"]:
        if arg_name == "self":
            r = render(ty)
            args.append({"Self": "self", "&Self": "&self", "&mut Self": "&mut self"}.get(r, f"self: {r}"))
        else:
            args.append(f"{arg_name}: {render(ty)}")
    header = f["header"]
    prefix = ("const " if header.get("is_const") else "") + ("async " if header.get("is_async") else "")
    out = sig.get("output")
    return f"{prefix}fn {name}{gen}({', '.join(args)})" + (f" -> {render(out)}" if out else "") + where


def main():
    doc = json.load(open(sys.argv[1]))
    # rustdoc's JSON changes shape between toolchains; a listing read by a
    # shape this script does not know would differ for no API change.
    if doc.get("format_version") not in KNOWN_FORMATS:
        sys.exit(
            f"rustdoc JSON format {doc.get('format_version')} is not one this script reads "
            f"({sorted(KNOWN_FORMATS)}): check its rendering, then add it to KNOWN_FORMATS"
        )
    index = doc["index"]
    lines = set()
    seen = set()

    def item(i):
        return index.get(str(i))

    def walk(i, path):
        it = item(i)
        if it is None or it["crate_id"] != 0:
            return
        key = (i, path)
        if key in seen:
            return
        seen.add(key)
        (kind, v), = it["inner"].items()
        if kind == "module":
            lines.add(f"pub mod {path}")
            for child in v["items"]:
                c = item(child)
                if c is None or c["visibility"] != "public":
                    continue
                if "use" in c["inner"]:
                    u = c["inner"]["use"]
                    if u["id"] is None:
                        continue
                    if u["is_glob"]:
                        target = item(u["id"])
                        if target and "module" in target["inner"]:
                            for g in target["inner"]["module"]["items"]:
                                gi = item(g)
                                if gi and gi["visibility"] == "public" and gi["name"]:
                                    walk(g, f"{path}::{gi['name']}")
                        continue
                    walk(u["id"], f"{path}::{u['name']}")
                elif c["name"]:
                    walk(child, f"{path}::{c['name']}")
        elif kind == "struct":
            gen, where = render_generics(v["generics"])
            lines.add(f"pub struct {path}{gen}{where}")
            sk = v["kind"]
            if "plain" in sk:
                for fid in sk["plain"]["fields"]:
                    fi = item(fid)
                    if fi and fi["visibility"] == "public":
                        lines.add(f"pub {path}::{fi['name']}: {render(fi['inner']['struct_field'])}")
            elif "tuple" in sk:
                for n, fid in enumerate(sk["tuple"]):
                    fi = fid is not None and item(fid)
                    if fi and fi["visibility"] == "public":
                        lines.add(f"pub {path}::{n}: {render(fi['inner']['struct_field'])}")
            impls(v["impls"], path)
        elif kind == "enum":
            gen, where = render_generics(v["generics"])
            lines.add(f"pub enum {path}{gen}{where}")
            for vid in v["variants"]:
                vi = item(vid)
                vk = vi["inner"]["variant"]["kind"]
                if vk == "plain":
                    lines.add(f"pub {path}::{vi['name']}")
                elif "tuple" in vk:
                    types = [render(item(f)["inner"]["struct_field"]) for f in vk["tuple"] if f is not None]
                    lines.add(f"pub {path}::{vi['name']}({', '.join(types)})")
                elif "struct" in vk:
                    for f in vk["struct"]["fields"]:
                        fi = item(f)
                        lines.add(f"pub {path}::{vi['name']}::{fi['name']}: {render(fi['inner']['struct_field'])}")
            impls(v["impls"], path)
        elif kind == "function":
            lines.add(f"pub {signature(path, v)}")
        elif kind == "constant":
            lines.add(f"pub const {path}: {render(v['type'])}")
        elif kind == "static":
            lines.add(f"pub static {path}: {render(v['type'])}")
        elif kind == "type_alias":
            gen, _ = render_generics(v["generics"])
            lines.add(f"pub type {path}{gen} = {render(v['type'])}")
        elif kind == "trait":
            gen, where = render_generics(v["generics"])
            bounds = " + ".join(render_bound(b) for b in v.get("bounds", []))
            lines.add(f"pub trait {path}{gen}" + (f": {bounds}" if bounds else "") + where)
            for t in v["items"]:
                ti = item(t)
                (tk, tv), = ti["inner"].items()
                if tk == "function":
                    lines.add(f"pub {signature(path + '::' + ti['name'], tv)}")
                elif tk == "assoc_type":
                    lines.add(f"pub type {path}::{ti['name']}")
                elif tk == "assoc_const":
                    lines.add(f"pub const {path}::{ti['name']}: {render(tv['type'])}")
        elif kind == "macro":
            lines.add(f"pub macro {path}!")
        else:
            lines.add(f"pub {kind} {path}")

    def impls(impl_ids, path):
        for iid in impl_ids:
            im = item(iid)
            if im is None:
                continue
            v = im["inner"]["impl"]
            if v.get("is_synthetic") or v.get("blanket_impl") is not None:
                continue
            gen, where = render_generics(v["generics"])
            if v.get("trait"):
                trait = v["trait"]["path"] + render_args(v["trait"].get("args"))
                # Auto traits and derives are part of the API too: losing
                # `Send` or `Clone` breaks callers.
                neg = "!" if v.get("is_negative") else ""
                lines.add(f"impl{gen} {neg}{trait} for {render(v['for'])}{where}")
                continue
            for m in v["items"]:
                mi = item(m)
                if mi is None or mi["visibility"] != "public":
                    continue
                (mk, mv), = mi["inner"].items()
                if mk == "function":
                    lines.add(f"pub {signature(path + '::' + mi['name'], mv)}")
                elif mk == "assoc_const":
                    lines.add(f"pub const {path}::{mi['name']}: {render(mv['type'])}")

    walk(doc["root"], "handoff_guard")
    for line in sorted(lines):
        print(line)


if __name__ == "__main__":
    main()
