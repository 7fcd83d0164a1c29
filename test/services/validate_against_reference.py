#!/usr/bin/python3
"""Validate SOAP response elements against the XML Schemas inside a reference WSDL.

Used by schema-conformance.test.ts. Usage:

    validate_against_reference.py REFERENCE.wsdl < request.json > result.json

request.json: {"documents": [{"name": str, "envelope": str (the SOAP envelope XML),
                              "parts": {content-id: base64} (MTOM parts, may be empty),
                              "target": "body" | "fault-detail"}]}

For each document the element to check is the SOAP Body's child ("body") or the first element of
the Fault's detail ("fault-detail"). Every xop:Include in it is first replaced by the base64 text of
the part it names, as XOP processing would (XOP 1.0, section 3.2). The element is then validated as a
standalone document against all xs:schema elements of the WSDL: each is written to its own file in a
temporary directory (its namespace-only xs:import elements given the schemaLocation of the file that
holds that namespace) and a wrapper schema imports every namespace.

Writes {"schemaNamespaces": [...], "results": [{"name", "root", "valid", "errors"}]} as JSON.
Exits non-zero only when the schemas themselves cannot be loaded.
"""
import base64
import json
import os
import sys
import tempfile
import urllib.parse

try:
    from lxml import etree
except ImportError:  # pragma: no cover - reported to the test as a clear message
    sys.stderr.write("python3-lxml is required (Debian: apt-get install -y python3-lxml)\n")
    sys.exit(3)

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XOP = "http://www.w3.org/2004/08/xop/include"
SOAP_ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")

SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def write_schemas(wsdl_path, directory):
    """Write each xs:schema of the WSDL to its own file; return (namespace -> file name)."""
    wsdl = etree.parse(wsdl_path, SAFE_PARSER)
    schemas = wsdl.getroot().findall(f"{{{WSDL}}}types/{{{XS}}}schema")
    if not schemas:
        raise SystemExit(f"no xs:schema elements in {wsdl_path}")
    files = {}
    for index, schema in enumerate(schemas):
        namespace = schema.get("targetNamespace", "")
        if namespace in files:
            raise SystemExit(f"two schemas for namespace {namespace!r}; merge them before validating")
        files[namespace] = f"schema{index}.xsd"
    for index, schema in enumerate(schemas):
        # tostring() of a subtree copies the in-scope namespace declarations of its ancestors,
        # so QName values such as type="q1:ArchivedFormTaskDQBE" keep their prefixes.
        copy = etree.fromstring(etree.tostring(schema), SAFE_PARSER)
        for imported in copy.findall(f"{{{XS}}}import"):
            target = imported.get("namespace", "")
            if imported.get("schemaLocation") is None and target in files:
                imported.set("schemaLocation", files[target])
        etree.ElementTree(copy).write(os.path.join(directory, f"schema{index}.xsd"), xml_declaration=True, encoding="utf-8")
    wrapper = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS}, targetNamespace="urn:altinn-gateway:test:wrapper")
    for namespace, file_name in files.items():
        etree.SubElement(wrapper, f"{{{XS}}}import", namespace=namespace, schemaLocation=file_name)
    wrapper_path = os.path.join(directory, "wrapper.xsd")
    etree.ElementTree(wrapper).write(wrapper_path, xml_declaration=True, encoding="utf-8")
    return wrapper_path, sorted(files)


def target_element(envelope, target):
    if envelope.tag not in (f"{{{ns}}}Envelope" for ns in SOAP_ENVELOPES):
        raise ValueError(f"not a SOAP envelope: {envelope.tag}")
    env_ns = envelope.tag[1:].split("}")[0]
    body = envelope.find(f"{{{env_ns}}}Body")
    children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if len(children) != 1:
        raise ValueError(f"the Body has {len(children)} elements")
    element = children[0]
    if target == "body":
        return element
    if target == "fault-detail":
        detail = element.find("detail") if env_ns == SOAP_ENVELOPES[0] else element.find(f"{{{env_ns}}}Detail")
        details = [c for c in detail if isinstance(c.tag, str)] if detail is not None else []
        if not details:
            raise ValueError("the Fault has no detail element")
        return details[0]
    raise ValueError(f"unknown target {target!r}")


def resolve_xop(element, parts):
    """Replace each xop:Include by the base64 text of its part (its parent must hold only it)."""
    for include in list(element.iter(f"{{{XOP}}}Include")):
        href = include.get("href", "")
        content_id = urllib.parse.unquote(href[4:] if href.lower().startswith("cid:") else href)
        if content_id not in parts:
            raise ValueError(f"xop:Include refers to a missing part {href!r}")
        parent = include.getparent()
        if (parent.text or "").strip() or len(parent) != 1:
            raise ValueError(f"{parent.tag} holds more than the xop:Include")
        parent.remove(include)
        parent.text = base64.b64encode(base64.b64decode(parts[content_id])).decode("ascii")


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    request = json.load(sys.stdin)
    with tempfile.TemporaryDirectory(prefix="agw-xsd-") as directory:
        wrapper_path, namespaces = write_schemas(sys.argv[1], directory)
        schema = etree.XMLSchema(etree.parse(wrapper_path, SAFE_PARSER))
    results = []
    for document in request["documents"]:
        result = {"name": document["name"], "root": None, "valid": False, "errors": []}
        try:
            envelope = etree.fromstring(document["envelope"].encode("utf-8"), SAFE_PARSER)
            element = target_element(envelope, document.get("target", "body"))
            resolve_xop(element, document.get("parts", {}))
            # A standalone copy: tostring() carries the namespace declarations in scope (xsi, dq, ...).
            standalone = etree.fromstring(etree.tostring(element), SAFE_PARSER)
            result["root"] = standalone.tag
            result["valid"] = schema.validate(standalone)
            result["errors"] = [f"line {e.line}: {e.message}" for e in schema.error_log]
        except (ValueError, etree.XMLSyntaxError) as error:
            result["errors"] = [str(error)]
        results.append(result)
    json.dump({"schemaNamespaces": namespaces, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
