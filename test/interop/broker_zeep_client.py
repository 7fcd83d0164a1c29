#!/usr/bin/python3
"""
Interop client for the Altinn 2 SOAP broker: python3-zeep built from Altinn's REFERENCE WSDLs
(../shared/reference/altinn2-broker/), only the service address changed, runs the broker loop:

  Basic:    Test -> InitiateBrokerServiceBasic (as the sender)
  Streamed: Test -> UploadFileStreamedBasic (SOAP headers as _soapheaders; zeep sends the bytes
            inline as base64: it cannot send MTOM) -> later DownloadFileStreamedBasic (MTOM answer)
  Basic:    CheckIfAvailableFilesBasic -> GetAvailableFilesBasic(Uploaded) -> (download) ->
            ConfirmDownloadedBasic -> GetAvailableFilesBasic(Uploaded) again -> CheckIfAvailableFilesBasic
            -> one call with a wrong password (an AltinnFault expected)

Then it downloads every file in "alsoDownload" (files other senders sent) the same way.

Input: one JSON object on stdin:
  {"baseUrl", "sender": {"userName", "password", "orgNumber"}, "recipient": {...},
   "serviceCode", "serviceEdition", "payloadBase64", "alsoDownload": [reference, ...], "referenceDir": null}
Output: one JSON document on stdout (what zeep returned, decoded). Exit code 0 when the loop ran to
its end, 2 on a crash (the summary then has "error" and "traceback").
"""
import base64
import datetime
import hashlib
import json
import os
import sys
import traceback
import uuid

import zeep
import zeep.exceptions
from zeep.helpers import serialize_object
from zeep.plugins import HistoryPlugin

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REFERENCE_DIR = os.path.join(os.path.dirname(REPO_ROOT), "shared", "reference", "altinn2-broker")
TNS = "http://www.altinn.no/services/ServiceEngine/Broker/2015/06"
FAULT_NS = "http://www.altinn.no/services/common/fault/2009/10"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
BASIC_PATH = "/ServiceEngineExternal/BrokerServiceExternalBasic.svc"
STREAMED_PATH = "/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc"


def to_json(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError("not JSON serializable: %r" % type(value))


def altinn_fault_of(fault):
    detail = fault.detail
    found = None if detail is None else detail.find("{%s}AltinnFault" % FAULT_NS)
    if found is None:
        return None
    return {child.tag.split("}")[1]: child.text for child in found}


def files_of(result):
    """GetAvailableFilesBasicResult: zeep flattens the list type to a list; None when nil."""
    if result is None:
        return None
    items = result if isinstance(result, list) else (serialize_object(result).get("BrokerServiceAvailableFile") or [])
    return [dict(serialize_object(item)) for item in items]


def described(data):
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def run(config, summary):
    reference_dir = config.get("referenceDir") or DEFAULT_REFERENCE_DIR
    base = config["baseUrl"].rstrip("/")
    sender, recipient = config["sender"], config["recipient"]
    code, edition = config["serviceCode"], config["serviceEdition"]

    history = HistoryPlugin()
    basic_client = zeep.Client(os.path.join(reference_dir, "BrokerServiceExternalBasic.wsdl"), plugins=[history])
    basic = basic_client.create_service("{%s}BasicHttpBinding_IBrokerServiceExternalBasic" % TNS, base + BASIC_PATH)
    streamed_client = zeep.Client(os.path.join(reference_dir, "BrokerServiceExternalBasicStreamed.wsdl"))
    streamed = streamed_client.create_service("{%s}BasicHttpBinding_IBrokerServiceExternalBasicStreamed" % TNS, base + STREAMED_PATH)

    summary["test"] = {"basic": serialize_object(basic.Test()), "streamed": serialize_object(streamed.Test())}

    senders_reference = str(uuid.uuid4())
    reference = basic.InitiateBrokerServiceBasic(
        systemUserName=sender["userName"],
        systemPassword=sender["password"],
        brokerServiceInitiation={
            "Manifest": {
                "ExternalServiceCode": code,
                "ExternalServiceEditionCode": edition,
                "FileList": {"File": [{"FileName": "zeep.zip"}]},
                "PropertyList": {"Property": [{"PropertyKey": "client", "PropertyValue": "zeep"}]},
                "Reportee": sender["orgNumber"],
                "SendersReference": senders_reference,
            },
            "RecipientList": {"Recipient": [{"PartyNumber": recipient["orgNumber"]}]},
        },
    )
    summary["initiated"] = {"reference": reference, "sendersReference": senders_reference}

    payload = base64.b64decode(config["payloadBase64"])
    receipt = streamed.UploadFileStreamedBasic(
        DataStream=payload,
        _soapheaders={
            "FileName": "zeep.zip",
            "Reference": reference,
            "Reportee": sender["orgNumber"],
            "SystemPassword": sender["password"],
            "SystemUserName": sender["userName"],
        },
    )
    summary["receipt"] = dict(serialize_object(receipt))

    poll = {"ExternalServiceCode": code, "ExternalServiceEditionCode": edition, "Recipients": {"string": [recipient["orgNumber"]]}}
    search = {"ExternalServiceCode": code, "ExternalServiceEditionCode": edition, "FileStatus": "Uploaded", "Reportee": recipient["orgNumber"]}
    credentials = {"systemUserName": recipient["userName"], "systemPassword": recipient["password"]}

    summary["checkBefore"] = basic.CheckIfAvailableFilesBasic(pollParameters=poll, **credentials)
    summary["listed"] = files_of(basic.GetAvailableFilesBasic(searchParameters=search, **credentials))

    downloads = {}
    for ref in [reference] + list(config.get("alsoDownload") or []):
        data = streamed.DownloadFileStreamedBasic(fileReference=ref, reportee=recipient["orgNumber"], **credentials)
        downloads[ref] = described(data)
        basic.ConfirmDownloadedBasic(fileReference=ref, reportee=recipient["orgNumber"], **credentials)
    summary["downloads"] = downloads

    summary["listedAfter"] = files_of(basic.GetAvailableFilesBasic(searchParameters=search, **credentials))
    # zeep gives None for an empty list and for a nil one alike: what came on the wire tells them apart.
    result = history.last_received["envelope"].find(".//{%s}GetAvailableFilesBasicResult" % TNS)
    summary["listedAfterElement"] = None if result is None else {"nil": result.get("{%s}nil" % XSI_NS), "children": len(result)}
    summary["listedDownloaded"] = files_of(basic.GetAvailableFilesBasic(searchParameters=dict(search, FileStatus="Downloaded"), **credentials))
    summary["checkAfter"] = basic.CheckIfAvailableFilesBasic(pollParameters=poll, **credentials)

    try:
        basic.GetAvailableFilesBasic(searchParameters=search, systemUserName=recipient["userName"], systemPassword="wrong")
        summary["fault"] = {"raised": None}
    except zeep.exceptions.Fault as fault:
        summary["fault"] = {"raised": type(fault).__name__, "message": fault.message, "altinnFault": altinn_fault_of(fault)}


def main():
    config = json.load(sys.stdin)
    summary = {"zeepVersion": zeep.__version__}
    try:
        run(config, summary)
    except Exception as error:  # report, never a bare traceback: the caller parses stdout
        summary["error"] = "%s: %s" % (type(error).__name__, error)
        summary["traceback"] = traceback.format_exc()
        print(json.dumps(summary, indent=1, default=to_json))
        return 2
    print(json.dumps(summary, indent=1, default=to_json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
