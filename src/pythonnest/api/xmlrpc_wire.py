"""The XML-RPC wire format, read safely.

A request is untrusted XML. defusedxml parses it with DTDs refused, so an
entity-expansion bomb is turned away before anything expands, and its values
are converted here rather than by ``xmlrpc.client``, whose parser has no
such guard.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import xmlrpc.client
from collections.abc import Callable
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

Fault = xmlrpc.client.Fault

# Deeper nesting than this is an attack or a bug, not a PyPI call.
MAX_NESTING = 32

# Fault codes from the XML-RPC "specification for fault code interoperability".
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

INT32_RANGE = range(-(2**31), 2**31)
INT64_RANGE = range(-(2**63), 2**63)
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Characters XML 1.0 cannot carry; metadata text may hold them.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_call(body: bytes) -> tuple[str, list]:
    """The method name and parameters of an XML-RPC request.

    Raises Fault for XML that is malformed, holds a DTD, or is not a call.
    """
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Fault(PARSE_ERROR, f"refused: XML-RPC requests may not contain DTDs or entities ({exc})") from exc
    except ParseError as exc:
        raise Fault(PARSE_ERROR, f"not well-formed XML: {exc}") from exc
    if root.tag != "methodCall":
        raise Fault(INVALID_REQUEST, f"the document is <{root.tag}>, not an XML-RPC <methodCall>")
    name = (root.findtext("methodName") or "").strip()
    if not name:
        raise Fault(INVALID_REQUEST, "the <methodCall> has no <methodName>")
    params = []
    params_element = root.find("params")
    for param in params_element if params_element is not None else ():
        if param.tag != "param" or len(param) != 1:
            raise Fault(INVALID_REQUEST, "each <param> must hold exactly one <value>")
        params.append(read_value(param[0]))
    return name, params


def _read_int(text: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError("not an integer")
    return int(text)


def _read_boolean(text: str) -> bool:
    if text.strip() not in ("0", "1"):
        raise ValueError("a boolean is 0 or 1")
    return text.strip() == "1"


def _read_datetime(text: str) -> datetime.datetime:
    text = text.strip()
    try:
        return datetime.datetime.strptime(text, "%Y%m%dT%H:%M:%S")
    except ValueError:
        return datetime.datetime.fromisoformat(text)


def _read_base64(text: str) -> bytes:
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


_SCALARS: dict[str, Callable[[str], object]] = {
    **dict.fromkeys(("int", "i4", "i8", "i2", "i1"), _read_int),
    "boolean": _read_boolean,
    "string": str,
    "double": lambda text: float(text.strip()),
    "dateTime.iso8601": _read_datetime,
    "base64": _read_base64,
    "nil": lambda text: None,
}


def read_value(element: Element, depth: int = 0) -> object:
    """The Python value of one ``<value>`` element; raises Fault when it is not one."""
    if element.tag != "value":
        raise Fault(INVALID_REQUEST, f"expected <value>, found <{element.tag}>")
    if depth > MAX_NESTING:
        raise Fault(INVALID_REQUEST, f"values nest deeper than {MAX_NESTING} levels")
    if len(element) == 0:
        return element.text or ""  # a <value> without a type is a string
    if len(element) > 1:
        raise Fault(INVALID_REQUEST, "a <value> must hold one typed element")
    typed = element[0]
    # The Apache extensions (ex:nil, ex:i8) arrive with a namespace.
    kind = typed.tag.rpartition("}")[2]
    if kind == "struct":
        return _read_struct(typed, depth)
    if kind == "array":
        data = typed.find("data")
        return [read_value(item, depth + 1) for item in (data if data is not None else ())]
    reader = _SCALARS.get(kind)
    if reader is None:
        raise Fault(INVALID_REQUEST, f"<{kind}> is not an XML-RPC value type")
    if len(typed):
        raise Fault(INVALID_REQUEST, f"<{kind}> may hold text only")
    text = typed.text or ""
    try:
        return reader(text)
    except ValueError as exc:
        raise Fault(INVALID_REQUEST, f"<{kind}>{text[:40]}</{kind}> is not a valid {kind} ({exc})") from exc


def _read_struct(struct: Element, depth: int) -> dict:
    members = {}
    for member in struct:
        name, value = member.find("name"), member.find("value")
        if member.tag != "member" or name is None or value is None:
            raise Fault(INVALID_REQUEST, "each struct <member> needs a <name> and a <value>")
        members[name.text or ""] = read_value(value, depth + 1)
    return members


def xml_safe(value: object) -> object:
    """``value`` made writable as XML-RPC: no characters XML forbids, no oversized ints."""
    if isinstance(value, str):
        return _NOT_XML.sub("", value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value not in INT32_RANGE:
        # XML-RPC's <int> is 32 bits; a double carries sizes beyond 2 GiB exactly.
        return float(value)
    if isinstance(value, dict):
        return {key: xml_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [xml_safe(item) for item in value]
    return value
