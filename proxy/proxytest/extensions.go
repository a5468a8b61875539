package proxytest

// This file holds the read-only tables of the iptables extensions the parser
// and the fake kernel know: for each match module and target, its options
// and how many values each option takes. An extension or option not listed
// here is refused with ErrUnknownExtension, as iptables refuses a module it
// cannot load, so that a typo in generated rules fails a test instead of
// passing through unchecked.

// genericOptions are the options of iptables itself, with their long
// spellings mapped to the short ones iptables-save prints.
var genericAliases = map[string]string{
	"--source":        "-s",
	"--src":           "-s",
	"--destination":   "-d",
	"--dst":           "-d",
	"--in-interface":  "-i",
	"--out-interface": "-o",
	"--protocol":      "-p",
	"--fragment":      "-f",
	"--match":         "-m",
	"--jump":          "-j",
	"--goto":          "-g",
}

// genericArity gives the number of values of each generic option.
var genericArity = map[string]int{
	"-s": 1, "-d": 1, "-i": 1, "-o": 1, "-p": 1, "-f": 0, "-m": 1, "-j": 1, "-g": 1,
}

// optionAliases maps long option spellings of extensions to the names
// iptables-save prints.
var optionAliases = map[string]string{
	"--destination-port":  "--dport",
	"--source-port":       "--sport",
	"--destination-ports": "--dports",
	"--source-ports":      "--sports",
}

// matchModules lists the match modules ("-m NAME") and their options with
// the number of values each takes.
var matchModules = map[string]map[string]int{
	"comment":   {"--comment": 1},
	"tcp":       {"--dport": 1, "--sport": 1, "--tcp-flags": 2, "--syn": 0, "--tcp-option": 1},
	"udp":       {"--dport": 1, "--sport": 1},
	"sctp":      {"--dport": 1, "--sport": 1, "--chunk-types": 2},
	"mark":      {"--mark": 1},
	"connmark":  {"--mark": 1},
	"recent":    {"--name": 1, "--set": 0, "--rcheck": 0, "--update": 0, "--remove": 0, "--seconds": 1, "--reap": 0, "--hitcount": 1, "--rttl": 0, "--rsource": 0, "--rdest": 0, "--mask": 1},
	"statistic": {"--mode": 1, "--probability": 1, "--every": 1, "--packet": 1},
	"addrtype":  {"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0},
	"conntrack": {"--ctstate": 1, "--ctproto": 1, "--ctorigsrc": 1, "--ctorigdst": 1, "--ctreplsrc": 1, "--ctrepldst": 1, "--ctorigsrcport": 1, "--ctorigdstport": 1, "--ctreplsrcport": 1, "--ctrepldstport": 1, "--ctstatus": 1, "--ctexpire": 1, "--ctdir": 1},
	"state":     {"--state": 1},
	"multiport": {"--dports": 1, "--sports": 1, "--ports": 1},
	"physdev":   {"--physdev-in": 1, "--physdev-out": 1, "--physdev-is-in": 0, "--physdev-is-out": 0, "--physdev-is-bridged": 0},
	"set":       {"--match-set": 2},
	"limit":     {"--limit": 1, "--limit-burst": 1},
	"owner":     {"--uid-owner": 1, "--gid-owner": 1, "--socket-exists": 0},
	"pkttype":   {"--pkt-type": 1},
	"iprange":   {"--src-range": 1, "--dst-range": 1},
	"icmp":      {"--icmp-type": 1},
	"icmp6":     {"--icmpv6-type": 1},
	"length":    {"--length": 1},
	"nfacct":    {"--nfacct-name": 1},
}

// notNegatable lists extension options that iptables refuses after "!".
var notNegatable = map[string]bool{
	"--comment": true, "--mode": true, "--probability": true, "--every": true,
	"--packet": true, "--name": true, "--seconds": true, "--hitcount": true,
	"--mask": true, "--reap": true, "--rsource": true, "--rdest": true, "--rttl": true,
	"--limit-burst": true, "--limit-iface-in": true, "--limit-iface-out": true,
}

// targetExtensions lists the targets ("-j NAME") that are not chains, with
// their options. A "-j" or "-g" to any other name must name a chain of the
// same table.
var targetExtensions = map[string]map[string]int{
	"ACCEPT":     {},
	"DROP":       {},
	"RETURN":     {},
	"QUEUE":      {},
	"REJECT":     {"--reject-with": 1},
	"DNAT":       {"--to-destination": 1, "--random": 0, "--persistent": 0},
	"SNAT":       {"--to-source": 1, "--random": 0, "--random-fully": 0, "--persistent": 0},
	"MASQUERADE": {"--to-ports": 1, "--random": 0, "--random-fully": 0},
	"REDIRECT":   {"--to-ports": 1, "--random": 0},
	"MARK":       {"--set-xmark": 1, "--set-mark": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1},
	"CONNMARK":   {"--set-xmark": 1, "--set-mark": 1, "--save-mark": 0, "--restore-mark": 0, "--mask": 1, "--nfmask": 1, "--ctmask": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1},
	"LOG":        {"--log-prefix": 1, "--log-level": 1, "--log-tcp-sequence": 0, "--log-tcp-options": 0, "--log-ip-options": 0, "--log-uid": 0},
	"NOTRACK":    {},
	"CT":         {"--notrack": 0, "--zone": 1, "--helper": 1},
}

// natOnlyTargets may only be used in the nat table.
var natOnlyTargets = map[string]bool{"DNAT": true, "SNAT": true, "MASQUERADE": true, "REDIRECT": true}

// builtinChains lists, per table, the built-in chains in the order
// iptables-save prints them.
var builtinChains = map[string][]string{
	"filter":   {"INPUT", "FORWARD", "OUTPUT"},
	"nat":      {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle":   {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"raw":      {"PREROUTING", "OUTPUT"},
	"security": {"INPUT", "FORWARD", "OUTPUT"},
}

// tableOrder is the order in which Dump prints tables.
var tableOrder = []string{"filter", "nat", "mangle", "raw", "security"}

// protocolNumbers maps the numeric protocols iptables accepts to the names
// iptables-save prints.
var protocolNumbers = map[string]string{"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "ipv6-icmp"}

// IsTargetExtension reports whether name is a target iptables provides
// (ACCEPT, DROP, RETURN, DNAT, MARK, ...) rather than a chain name.
func IsTargetExtension(name string) bool {
	_, ok := targetExtensions[name]
	return ok
}
