/*
 * Baseline for list-500 and formtask-10x1mb (issue 13): what a Java team replacing Altinn would
 * run, a JAX-WS RI (Metro) server on classes that wsimport generates from Altinn's REFERENCE WSDL
 * (../shared/reference/altinn2/DownloadQueueExternalBasic.wsdl, package `dq`), published with
 * javax.xml.ws.Endpoint on the JDK's HTTP server, MTOM on. It serves one answer from memory:
 *
 *   java -Dsun.net.httpserver.nodelay=true -cp <classes>:<Metro jars> DownloadQueueServer \
 *        <port> <systemUserName> <systemPassword> <result.xml> [<attachment file>...]
 *
 * <result.xml> is the gateway's own SOAP response (its XML part), read once with JAXB into the
 * generated types: a GetDownloadQueueItemsResult (the 500 items) or a
 * GetArchivedFormTaskBasicDQResult (the task; each attachment's bytes then come from the files,
 * in order, held in memory). The data is thus the gateway's, item for item; the bench compares
 * the two answers' sizes and element counts before the load. Credentials are compared in memory.
 * GET <path>?wsdl (Metro's own) answers 200 once the endpoint is published: the bench's ready check.
 */
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.jws.WebService;
import javax.xml.bind.JAXBContext;
import javax.xml.bind.JAXBElement;
import javax.xml.bind.Unmarshaller;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.ws.Endpoint;
import javax.xml.ws.soap.MTOM;
import org.w3c.dom.Document;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

import dq.AltinnFault;
import dq.ArchivedAttachmentDQBE;
import dq.ArchivedFormTaskDQBE;
import dq.DownloadQueueItemBEList;
import dq.IDownloadQueueExternalBasic;
import dq.IDownloadQueueExternalBasicGetArchivedFormTaskBasicDQAltinnFaultFaultFaultMessage;
import dq.IDownloadQueueExternalBasicGetDownloadQueueItemsAltinnFaultFaultFaultMessage;
import dq.IDownloadQueueExternalBasicGetFormSetPdfBasicAltinnFaultFaultFaultMessage;
import dq.IDownloadQueueExternalBasicPurgeItemAltinnFaultFaultFaultMessage;
import dq.ObjectFactory;

@MTOM
@WebService(
    serviceName = "DownloadQueueExternalBasic",
    portName = "BasicHttpBinding_IDownloadQueueExternalBasic",
    targetNamespace = "http://www.altinn.no/services/Archive/DownloadQueue/2012/08",
    endpointInterface = "dq.IDownloadQueueExternalBasic")
public class DownloadQueueServer implements IDownloadQueueExternalBasic {
    static final String SVC = "http://www.altinn.no/services/Archive/DownloadQueue/2012/08";
    static final String PATH = "/ArchiveExternal/DownloadQueueExternalBasic.svc";
    /**
     * Worker threads of the JDK HTTP server. Without an executor it runs every exchange on its one
     * dispatcher thread; one thread per connection of the heaviest scenario (16) lets every
     * connection be served at once, as a tuned deployment would.
     */
    static final int THREADS = 16;

    private final String userName;
    private final String password;
    private final DownloadQueueItemBEList queue;
    private final ArchivedFormTaskDQBE formTask;

    DownloadQueueServer(String userName, String password, DownloadQueueItemBEList queue, ArchivedFormTaskDQBE formTask) {
        this.userName = userName;
        this.password = password;
        this.queue = queue;
        this.formTask = formTask;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: DownloadQueueServer <port> <systemUserName> <systemPassword> <result.xml> [<attachment file>...]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        Document response = factory.newDocumentBuilder().parse(new File(args[3]));
        Unmarshaller unmarshaller = JAXBContext.newInstance(ObjectFactory.class).createUnmarshaller();

        DownloadQueueItemBEList queue = null;
        ArchivedFormTaskDQBE formTask = null;
        Node items = only(response, "GetDownloadQueueItemsResult");
        Node task = only(response, "GetArchivedFormTaskBasicDQResult");
        if (items != null) queue = unmarshaller.unmarshal(items, DownloadQueueItemBEList.class).getValue();
        if (task != null) {
            formTask = unmarshaller.unmarshal(task, ArchivedFormTaskDQBE.class).getValue();
            List<ArchivedAttachmentDQBE> attachments = formTask.getAttachments().getValue().getArchivedAttachmentDQBE();
            if (attachments.size() != args.length - 4) {
                throw new IllegalArgumentException(attachments.size() + " attachments in " + args[3] + ", " + (args.length - 4) + " files given");
            }
            ObjectFactory objects = new ObjectFactory();
            for (int i = 0; i < attachments.size(); i++) {
                attachments.get(i).setAttachmentData(objects.createArchivedAttachmentDQBEAttachmentData(Files.readAllBytes(Path.of(args[4 + i]))));
            }
        }
        if (queue == null && formTask == null) throw new IllegalArgumentException(args[3] + " holds neither result");

        Endpoint endpoint = Endpoint.create(new DownloadQueueServer(args[1], args[2], queue, formTask));
        ExecutorService executor = Executors.newFixedThreadPool(THREADS);
        endpoint.setExecutor(executor);
        endpoint.publish("http://127.0.0.1:" + port + PATH);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            endpoint.stop();
            executor.shutdownNow();
        }));
        System.out.println("listening on http://127.0.0.1:" + port + PATH);
    }

    /** The one element of that local name in the service namespace, or null. */
    private static Node only(Document document, String localName) {
        NodeList found = document.getElementsByTagNameNS(SVC, localName);
        if (found.getLength() > 1) throw new IllegalArgumentException(found.getLength() + " " + localName + " elements");
        return found.getLength() == 1 ? found.item(0) : null;
    }

    private boolean authenticated(String systemUserName, String systemPassword) {
        return userName.equals(systemUserName) && password.equals(systemPassword);
    }

    private static AltinnFault fault(String message, int errorId) {
        ObjectFactory objects = new ObjectFactory();
        AltinnFault fault = new AltinnFault();
        fault.setAltinnErrorMessage(objects.createAltinnFaultAltinnErrorMessage(message));
        fault.setErrorID(errorId);
        return fault;
    }

    @Override
    public void test() {
    }

    @Override
    public DownloadQueueItemBEList getDownloadQueueItems(String systemUserName, String systemPassword, String serviceCode)
            throws IDownloadQueueExternalBasicGetDownloadQueueItemsAltinnFaultFaultFaultMessage {
        if (!authenticated(systemUserName, systemPassword)) {
            throw new IDownloadQueueExternalBasicGetDownloadQueueItemsAltinnFaultFaultFaultMessage("Invalid system user name or password", fault("Invalid system user name or password", 989));
        }
        if (queue == null) return new DownloadQueueItemBEList();
        return queue;
    }

    @Override
    public ArchivedFormTaskDQBE getArchivedFormTaskBasicDQ(String systemUserName, String systemPassword, String archiveReference, Integer languageID, Boolean includeXmlNamespace)
            throws IDownloadQueueExternalBasicGetArchivedFormTaskBasicDQAltinnFaultFaultFaultMessage {
        if (!authenticated(systemUserName, systemPassword)) {
            throw new IDownloadQueueExternalBasicGetArchivedFormTaskBasicDQAltinnFaultFaultFaultMessage("Invalid system user name or password", fault("Invalid system user name or password", 989));
        }
        JAXBElement<String> reference = formTask == null ? null : formTask.getArchiveReference();
        if (reference == null || !reference.getValue().equals(archiveReference)) {
            throw new IDownloadQueueExternalBasicGetArchivedFormTaskBasicDQAltinnFaultFaultFaultMessage("Not found", fault("Not found", 0));
        }
        return formTask;
    }

    @Override
    public String purgeItem(String systemUserName, String systemPassword, String archiveReference)
            throws IDownloadQueueExternalBasicPurgeItemAltinnFaultFaultFaultMessage {
        throw new IDownloadQueueExternalBasicPurgeItemAltinnFaultFaultFaultMessage("Not served by this baseline", fault("Not served by this baseline", 0));
    }

    @Override
    public byte[] getFormSetPdfBasic(String systemName, String systemPassword, String archiveReference, int languageId, String dataFormatId, Integer dataFormatVersion)
            throws IDownloadQueueExternalBasicGetFormSetPdfBasicAltinnFaultFaultFaultMessage {
        throw new IDownloadQueueExternalBasicGetFormSetPdfBasicAltinnFaultFaultFaultMessage("Not served by this baseline", fault("Not served by this baseline", 0));
    }
}
