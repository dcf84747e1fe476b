"""Reads vigia's ONVIF mirror messages (JSON lines: {"topic", "payload"}) on stdin, turns
each into the ONVIF NotificationMessage it stands for (tt:Message with SimpleItems, and
ElementItems for structured values), parses that with zeep against the ONVIF WSDL/XSDs that
onvif-zeep-async ships, and hands it to onvif-parsers (the parsers Home Assistant's ONVIF
integration uses). Prints one JSON line per message: the ONVIF topic, whether
onvif-parsers knows it, and the entities it made.

Run by tests/onvif_mirror.rs in the venv deploy/setup.sh makes (.vigia/venv-onvif).
"""

import asyncio
import json
import os
import sys

import onvif
import onvif_parsers
import zeep
from lxml import etree
from onvif_parsers import errors

WSNT = "http://docs.oasis-open.org/wsn/b-2"
TT = "http://www.onvif.org/ver10/schema"
TNS1 = "http://www.onvif.org/ver10/topics"


def onvif_topic(mqtt_topic: str) -> str:
    local = mqtt_topic.split("/onvif-ej/", 1)[1].split("/&", 1)[0]
    return "tns1:" + local


def simple_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def add_items(parent, items: dict) -> None:
    """tt:ItemList: every SimpleItem, then every ElementItem (the schema's order)."""
    for name, value in items.items():
        if not isinstance(value, dict):
            etree.SubElement(parent, f"{{{TT}}}SimpleItem", Name=name, Value=simple_value(value))
    for name, value in items.items():
        if isinstance(value, dict):
            item = etree.SubElement(parent, f"{{{TT}}}ElementItem", Name=name)
            item.append(element(name, value))


def element(name: str, value: dict):
    """A structured value ({"Value", "Likelihood"} leaves become text + attribute)."""
    e = etree.Element(f"{{{TT}}}{name}")
    if set(value) <= {"Value", "Likelihood"} and "Value" in value:
        e.text = simple_value(value["Value"])
        if "Likelihood" in value:
            e.set("Likelihood", simple_value(value["Likelihood"]))
        return e
    for k, v in value.items():
        e.append(element(k, v) if isinstance(v, dict) else text(k, v))
    return e


def text(name: str, v):
    e = etree.Element(f"{{{TT}}}{name}")
    e.text = simple_value(v)
    return e


def notification(topic: str, payload: dict):
    nm = etree.Element(f"{{{WSNT}}}NotificationMessage", nsmap={"wsnt": WSNT, "tt": TT, "tns1": TNS1})
    t = etree.SubElement(nm, f"{{{WSNT}}}Topic", Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet")
    t.text = topic
    holder = etree.SubElement(nm, f"{{{WSNT}}}Message")
    attrs = {"UtcTime": payload["UtcTime"]}
    if "PropertyOperation" in payload:
        attrs["PropertyOperation"] = payload["PropertyOperation"]
    msg = etree.SubElement(holder, f"{{{TT}}}Message", **attrs)
    for part in ("Source", "Key", "Data"):
        if part in payload:
            add_items(etree.SubElement(msg, f"{{{TT}}}{part}"), payload[part])
    return nm


async def main() -> None:
    wsdl = os.path.join(os.path.dirname(onvif.__file__), "wsdl", "events.wsdl")
    client = zeep.Client(wsdl)
    message_type = client.get_element(f"{{{WSNT}}}NotificationMessage")
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        topic = onvif_topic(m["topic"])
        xml = notification(topic, m["payload"])
        parsed = message_type.parse(xml, client.wsdl.types)
        inner = parsed.Message._value_1
        out = {"topic": topic, "source": [i.Name for i in inner.Source.SimpleItem]}
        try:
            entities = await onvif_parsers.parse(topic, "vigia-test", parsed)
            out["known"] = True
            out["entities"] = [
                {"name": e.name, "platform": e.platform, "device_class": e.device_class, "value": e.value, "uid": e.uid}
                for e in entities
            ]
        except errors.UnknownTopicError:
            out["known"] = False
        print(json.dumps(out), flush=True)


asyncio.run(main())
