package alsim

// The fixed vocabulary the corpus draws from: services, file types, names.
// Kept small and realistic; nothing here depends on the seed.

type svcRole uint8

const (
	roleExtract svcRole = iota // extracts children, small scores
	roleInfo                   // informational, small positive scores
	roleHeavy                  // the services that make files malicious
	roleSafe                   // safelisting, negative scores
)

type service struct {
	name    string
	version string // dotted, as in response.service_version
	conf    string // conf_key: "0" or base62
	role    svcRole
	tool    string // service_tool_version, "" = null
	heurs   []string
	tagType string
}

// services are the Assemblyline services results come from. Order matters
// only for determinism.
var services = []service{
	{"Extract", "4.7.0.stable2", "DY8IvKF1RH2", roleExtract, "", []string{"Embedded executable", "Password protected archive", "Extracted from OLE"}, "file.name.extracted"},
	{"YARA", "4.7.0.stable3", "4Mo6yZ0ntjlR", roleHeavy, "r.2025.03.01", []string{"Malware family rule", "Suspicious packer", "Exploit kit pattern"}, "file.rule.yara"},
	{"PEFile", "4.7.0.stable1", "0", roleInfo, "", []string{"Suspicious section name", "Invalid timestamp", "Unsigned driver"}, "file.pe.sections.name"},
	{"Characterize", "4.7.0.stable0", "0", roleInfo, "", []string{"High entropy"}, "file.string.extracted"},
	{"AntiVirus", "4.7.0.stable5", "2xKqS8U1pHEb", roleHeavy, "", []string{"AV hit", "AV suspicious"}, "av.virus_name"},
	{"Cuckoo", "4.7.0.stable4", "5m3vK9QpXhn2", roleHeavy, "3.2.1", []string{"Process injection", "Persistence via Run key", "C2 beaconing"}, "network.dynamic.domain"},
	{"ConfigExtractor", "4.7.0.stable2", "0", roleHeavy, "mwcp 3.13", []string{"Malware configuration extracted"}, "attribution.family"},
	{"URLCreator", "4.7.0.stable1", "0", roleInfo, "", []string{"Suspicious URL"}, "network.static.uri"},
	{"Oletools", "4.7.0.stable3", "1Wn0cXq7", roleExtract, "0.60.1", []string{"Auto-executing macro", "Suspicious VBA keyword"}, "file.ole.macro.suspicious_string"},
	{"Frankenstrings", "4.7.0.stable1", "0", roleInfo, "", []string{"Base64 encoded executable"}, "file.string.blacklisted"},
	{"Safelist", "4.7.0.stable0", "0", roleSafe, "", []string{"Safelisted by hash"}, "file.name.extracted"},
	{"TagCheck", "4.7.0.stable1", "0", roleSafe, "", []string{"Known benign tag"}, "network.static.domain"},
	{"MetaDefender", "4.7.0.stable2", "3cPq8", roleHeavy, "", []string{"Multi-engine detection"}, "av.virus_name"},
}

func serviceIndex(name string) uint8 {
	for i, s := range services {
		if s.name == name {
			return uint8(i)
		}
	}
	panic("alsim: unknown service " + name)
}

// versionKey turns "4.7.0.stable2" into "4_7_0_stable2" as result keys do.
func versionKey(v string) string {
	b := []byte(v)
	for i, c := range b {
		if c == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

type fileType struct {
	typ, mime, magic, ext string
	prefix                string // first bytes of the content
	text                  bool   // content is printable ASCII
	entropy               float64
}

var fileTypes = []fileType{
	{"executable/windows/pe32", "application/x-dosexec", "PE32 executable (GUI) Intel 80386, for MS Windows", ".exe", "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", false, 7.91},
	{"executable/windows/dll32", "application/x-dosexec", "PE32 executable (DLL) (GUI) Intel 80386, for MS Windows", ".dll", "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", false, 7.88},
	{"document/office/word", "application/msword", "Composite Document File V2 Document, Little Endian, Os: Windows, Version 10.0", ".doc", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", false, 7.62},
	{"document/pdf", "application/pdf", "PDF document, version 1.7", ".pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", false, 7.83},
	{"archive/zip", "application/zip", "Zip archive data, at least v2.0 to extract", ".zip", "PK\x03\x04\x14\x00\x00\x00\x08\x00", false, 7.99},
	{"code/javascript", "text/plain", "ASCII text, with very long lines (2048), with no line terminators", ".js", "var _0x3f2a=", true, 5.87},
	{"code/vbs", "text/plain", "ASCII text, with CRLF line terminators", ".vbs", "Dim objShell\r\n", true, 5.41},
	{"executable/linux/elf64", "application/x-executable", "ELF 64-bit LSB executable, x86-64, version 1 (SYSV), statically linked", "", "\x7fELF\x02\x01\x01\x00", false, 7.95},
	{"text/plain", "text/plain", "ASCII text", ".txt", "", true, 4.92},
}

// Indices into fileTypes that are typical for malicious payloads.
var payloadTypes = []uint8{0, 0, 0, 1, 2, 3, 5, 6, 7}

var nameStems = []string{
	"invoice", "payload", "setup", "update", "report", "scan", "document", "order",
	"agent", "svchost", "loader", "stage2", "config", "readme", "photo", "contract",
	"statement", "patch", "driver", "helper", "Rechnung", "factura", "Scan 2025-03",
	"quarterly results", "résumé", "install",
}

var submitters = []string{"svc_go", "admin", "analyst1", "ingest_bot", "mail_gateway", "user2"}

var sources = []string{"feedX", "honeypot", "email-gw", "sandbox-upload", "partner-share", "vt-hunting"}

// errorKinds are Assemblyline error types with their key code and status.
var errorKinds = []struct {
	code           int
	typ, status    string
	message        string
	severity       string
	serviceVersion bool
}{
	{1, "EXCEPTION", "FAIL_NONRECOVERABLE", "Traceback (most recent call last):\n  File \"/opt/al_service/service.py\", line 112, in execute\nValueError: unsupported file layout", "error", true},
	{12, "MAX RETRY REACHED", "FAIL_NONRECOVERABLE", "Max retries reached while processing the file", "error", true},
	{20, "SERVICE BUSY", "FAIL_RECOVERABLE", "The service was busy and could not accept the task", "warning", true},
	{21, "SERVICE DOWN", "FAIL_RECOVERABLE", "Service down.", "warning", false},
	{10, "MAX DEPTH REACHED", "FAIL_NONRECOVERABLE", "Extraction depth limit reached", "warning", true},
}
