#!/usr/bin/python3
"""
Interop client: python3-zeep driven by Altinn's REFERENCE WSDLs (../shared/reference/altinn2/),
with only the host changed, runs the documented DownloadQueue loop against a gateway:

  Test -> GetDownloadQueueItems -> for each item GetArchivedFormTaskBasicDQ -> for each attachment
  its AttachmentData (MTOM part), or when nil GetAttachmentDataStreamedBasic(attachmentId) on the
  streamed service -> write the files -> GetFormSetPdfBasic once -> PurgeItem each ("OK")
  -> GetDownloadQueueItems again -> one call with a wrong password (expect an AltinnFault 989).

Run with Debian's /usr/bin/python3 (python3-zeep). Input, either as arguments
  zeep_client.py BASE_URL USER PASSWORD OUT_DIR [SERVICE_CODE]
or as one JSON object on stdin (no arguments):
  {"baseUrl": ..., "userName": ..., "password": ..., "outDir": ..., "serviceCode": null,
   "referenceDir": null}
Output: one JSON document on stdout (the summary). Exit code 0 when the loop ran to its end and
every check in "problems" passed; 1 when problems were found (still printing the summary); 2 on a
crash (the summary then has "error").
"""
import base64
import datetime
import hashlib
import json
import os
import sys
import time
import traceback

import zeep
import zeep.exceptions
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin

ALTINN_ORIGIN = "https://www.altinn.no"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REFERENCE_DIR = os.path.join(os.path.dirname(REPO_ROOT), "shared", "reference", "altinn2")
FAULT_NS = "http://www.altinn.no/services/common/fault/2009/10"


class HostRewritingTransport(Transport):
    """Sends everything addressed to https://www.altinn.no to the gateway instead: the documents the
    reference WSDL imports (?xsd=xsd0..4) and the SOAP posts. Records what it did."""

    def __init__(self, base_url, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.loaded = []
        self.posts = []

    def rewrite(self, url):
        if url.startswith(ALTINN_ORIGIN):
            return self.base_url + url[len(ALTINN_ORIGIN):]
        return url

    def load(self, url):
        target = self.rewrite(url)
        if target != url:
            self.loaded.append(target)
        return super().load(target)

    def post(self, address, message, headers):
        target = self.rewrite(address)
        response = super().post(target, message, headers)
        self.posts.append({
            "address": target,
            "soapAction": headers.get("SOAPAction"),
            "status": response.status_code,
            "contentType": response.headers.get("Content-Type"),
        })
        return response


def iso(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def items_of(wrapper, member):
    """The items of a list type (e.g. DownloadQueueItemBEList); None when the element was nil.
    zeep flattens a type whose only member is one repeated element, so the result is already a
    list; otherwise the items are in `member`."""
    if wrapper is None:
        return None
    if isinstance(wrapper, list):
        return wrapper
    return list(getattr(wrapper, member) or [])


def altinn_fault_of(fault):
    detail = fault.detail
    if detail is None:
        return None
    found = detail.find("{%s}AltinnFault" % FAULT_NS)
    if found is None:
        return None
    return {child.tag.split("}")[1]: child.text for child in found}


def to_json(value):
    """json.dumps fallback for what zeep returns: bytes (base64) and dates."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError("not JSON serializable: %r" % type(value))


def main():
    if len(sys.argv) > 1:
        args = sys.argv[1:]
        config = {"baseUrl": args[0], "userName": args[1], "password": args[2], "outDir": args[3],
                  "serviceCode": args[4] if len(args) > 4 else None}
    else:
        config = json.load(sys.stdin)
    summary = {"zeepVersion": zeep.__version__, "problems": []}
    try:
        run(config, summary)
    except Exception as error:  # report, never a bare traceback: the caller parses stdout
        summary["error"] = "%s: %s" % (type(error).__name__, error)
        summary["traceback"] = traceback.format_exc()
        print(json.dumps(summary, indent=1, default=to_json))
        return 2
    print(json.dumps(summary, indent=1, default=to_json))
    return 1 if summary["problems"] else 0


def run(config, summary):
    problems = summary["problems"]
    timings = summary.setdefault("timingsMs", {})
    started = time.monotonic()

    def lap(name, since):
        timings[name] = round((time.monotonic() - since) * 1000)
        return time.monotonic()

    reference_dir = config.get("referenceDir") or DEFAULT_REFERENCE_DIR
    user, password = config["userName"], config["password"]
    out_dir = config["outDir"]
    os.makedirs(out_dir, exist_ok=True)

    transport = HostRewritingTransport(config["baseUrl"], timeout=60, operation_timeout=120)
    # zeep only adds WS-Addressing headers with this plugin; CXF-like clients always do.
    plugins = [WsAddressingPlugin()]
    dq_wsdl = os.path.join(reference_dir, "DownloadQueueExternalBasic.wsdl")
    streamed_wsdl = os.path.join(reference_dir, "ServiceOwnerArchiveExternalStreamedBasic.wsdl")
    dq = zeep.Client(dq_wsdl, transport=transport, plugins=plugins)
    streamed = zeep.Client(streamed_wsdl, transport=transport, plugins=plugins)
    summary["wsdl"] = {"downloadQueue": dq_wsdl, "streamed": streamed_wsdl}
    summary["serviceAddresses"] = {
        "downloadQueue": dq.service._binding_options["address"],
        "streamed": streamed.service._binding_options["address"],
    }
    t = lap("loadWsdl", started)

    summary["test"] = {"result": dq.service.Test(), "streamedResult": streamed.service.Test()}
    t = lap("test", t)

    # 1. The queue.
    service_code = config.get("serviceCode")
    queue = items_of(dq.service.GetDownloadQueueItems(user, password, service_code), "DownloadQueueItemBE")
    summary["queue"] = [
        {
            "ArchiveReference": item.ArchiveReference,
            "ArchivedDate": iso(item.ArchivedDate),
            "ReporteeID": item.ReporteeID,
            "ReporteeType": item.ReporteeType,
            "ServiceCode": item.ServiceCode,
            "ServiceEditionCode": item.ServiceEditionCode,
            "ShipmentMetadata": None if item.ShipmentMetadataList is None else [
                {"Key": m.Key, "Value": m.Value}
                for m in items_of(item.ShipmentMetadataList, "ArchivedShipmentMetadata")
            ],
        }
        for item in queue or []
    ]
    t = lap("getQueue", t)

    # 2. Each task, and its attachments: inline bytes, or the streamed service when nil.
    tasks = {}
    summary["attachments"] = {}  # by attachment id, for quick comparison
    streamed_ms = 0
    for item in queue or []:
        reference = item.ArchiveReference
        task = dq.service.GetArchivedFormTaskBasicDQ(user, password, reference, 1044, False)
        attachments = []
        for attachment in items_of(task.Attachments, "ArchivedAttachmentDQBE") or []:
            data = attachment.AttachmentData
            via = "inline"
            if data is None:
                via = "streamed"
                s = time.monotonic()
                data = streamed.service.GetAttachmentDataStreamedBasic(user, password, attachment.AttachmentId)
                streamed_ms += (time.monotonic() - s) * 1000
            if not isinstance(data, bytes):
                problems.append("attachment %s of %s: expected bytes, zeep gave %s" % (attachment.AttachmentId, reference, type(data).__name__))
                data = b""
            folder = os.path.join(out_dir, reference)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "%s-%s" % (attachment.AttachmentId, os.path.basename(attachment.FileName or "unnamed")))
            with open(path, "wb") as fh:
                fh.write(data)
            with open(path, "rb") as fh:  # hash what is on disk: what a real integration would keep
                written = fh.read()
            attachments.append({
                "AttachmentId": attachment.AttachmentId,
                "ArchiveReference": attachment.ArchiveReference,
                "FileName": attachment.FileName,
                "AttachmentType": attachment.AttachmentType,
                "AttachmentTypeName": attachment.AttachmentTypeName,
                "IsEncrypted": attachment.IsEncrypted,
                "via": via,
                "file": path,
                "size": len(written),
                "sha256": hashlib.sha256(written).hexdigest(),
            })
            summary["attachments"][str(attachment.AttachmentId)] = {
                "sha256": attachments[-1]["sha256"], "size": len(written), "via": via}
        tasks[reference] = {
            "ArchiveReference": task.ArchiveReference,
            "ArchiveTimeStamp": iso(task.ArchiveTimeStamp),
            "ServiceCode": task.ServiceCode,
            "ServiceEditionCode": task.ServiceEditionCode,
            "Reportee": task.Reportee,
            "CaseID": task.CaseID,
            "AttachmentsInResponse": task.AttachmentsInResponse,
            "FormsInResponse": task.FormsInResponse,
            "SOEncryptedSymmetricKey": serialize_object(task.SOEncryptedSymmetricKey),
            "Forms": [
                {
                    "DataFormatID": form.DataFormatID,
                    "DataFormatVersionID": form.DataFormatVersionID,
                    "FormData": form.FormData,
                    "Reference": form.Reference,
                    "ParentReference": form.ParentReference,
                }
                for form in items_of(task.Forms, "ArchivedFormDQBE") or []
            ],
            "Approvers": [
                {
                    "ApproverID": approver.ApproverID,
                    "SecurityLevel": approver.SecurityLevel,
                    "ApprovedTimeStamp": iso(approver.ApprovedTimeStamp),
                }
                for approver in items_of(task.Approvers, "ApproverDQBE") or []
            ],
            "Attachments": attachments,
        }
    summary["tasks"] = tasks
    timings["streamedDownloads"] = round(streamed_ms)
    t = lap("getTasks", t)

    # 3. One form set PDF.
    if queue:
        reference = queue[0].ArchiveReference
        pdf = dq.service.GetFormSetPdfBasic(user, password, reference, 1044)
        summary["pdf"] = {
            "archiveReference": reference,
            "type": type(pdf).__name__,
            "size": len(pdf) if isinstance(pdf, bytes) else None,
            "head": pdf[:8].decode("latin-1") if isinstance(pdf, bytes) else None,
        }
        if not (isinstance(pdf, bytes) and pdf.startswith(b"%PDF")):
            problems.append("GetFormSetPdfBasic did not return bytes starting with %PDF")
    t = lap("pdf", t)

    # 4. Purge, then the queue holds none of them.
    purged = {}
    for item in queue or []:
        purged[item.ArchiveReference] = dq.service.PurgeItem(user, password, item.ArchiveReference)
        if purged[item.ArchiveReference] != "OK":
            problems.append("PurgeItem(%s) returned %r" % (item.ArchiveReference, purged[item.ArchiveReference]))
    summary["purged"] = purged
    after = items_of(dq.service.GetDownloadQueueItems(user, password, service_code), "DownloadQueueItemBE")
    summary["queueAfterPurge"] = None if after is None else [item.ArchiveReference for item in after]
    left = set(purged) & set(summary["queueAfterPurge"] or [])
    if left:
        problems.append("still queued after PurgeItem: %s" % sorted(left))
    t = lap("purge", t)

    # 5. A fault: the wrong password.
    try:
        dq.service.GetDownloadQueueItems(user, password + "-wrong", service_code)
        summary["fault"] = {"raised": None}
        problems.append("a wrong password raised nothing")
    except zeep.exceptions.Fault as fault:
        summary["fault"] = {
            "raised": "%s.%s" % (type(fault).__module__, type(fault).__name__),
            "message": fault.message,
            "code": fault.code,
            "altinnFault": altinn_fault_of(fault),
        }
    lap("fault", t)

    summary["documentsLoaded"] = transport.loaded
    summary["posts"] = transport.posts
    timings["total"] = round((time.monotonic() - started) * 1000)


if __name__ == "__main__":
    sys.exit(main())
