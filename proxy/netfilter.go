package proxy

import "context"

// Tables the library writes. The payloads of Plan touch filter and nat;
// Bootstrap also puts a canary chain in mangle.
const (
	TableFilter = "filter"
	TableNAT    = "nat"
	TableMangle = "mangle"
)

// CanaryChain is the empty chain Bootstrap creates in every table the
// library writes (mangle, nat and filter). Its disappearance means that
// something flushed or deleted the table, as for kube-proxy, which keeps
// its canary in mangle only (kubernetes/kubernetes#129128).
const CanaryChain = "KUBE-PROXY-CANARY"

// Netfilter is one IP family's packet filter, as the Syncer, Bootstrap,
// Cleanup and CheckDrift use it: atomic restores for the bulk of the
// rules, iptables-save to verify them, and single-rule commands for the
// jumps from the built-in chains, which a --noflush restore cannot state
// idempotently.
//
// IPTables (the real iptables, NewIPTables) and proxytest.FakeNetfilter
// implement it. Implementations must be safe for concurrent use.
type Netfilter interface {
	Restorer
	// Save returns the iptables-save output of one table. A table that
	// does not exist yet yields empty output and no error.
	Save(ctx context.Context, table string) ([]byte, error)
	// ChainExists reports whether a chain exists in table.
	ChainExists(ctx context.Context, table, chain string) (bool, error)
	// NewChain creates a user-defined chain; it fails if it exists.
	NewChain(ctx context.Context, table, chain string) error
	// RuleExists reports whether chain holds a rule equal to args
	// ("iptables -C").
	RuleExists(ctx context.Context, table, chain string, args ...string) (bool, error)
	// InsertRule inserts a rule at 1-based position pos ("iptables -I").
	InsertRule(ctx context.Context, table, chain string, pos int, args ...string) error
	// DeleteRule deletes the first rule equal to args ("iptables -D").
	DeleteRule(ctx context.Context, table, chain string, args ...string) error
	// ListRules returns the rules of one chain as "iptables -S CHAIN"
	// prints them ("-A CHAIN ..." lines, after the chain's "-N" or "-P"
	// line). A missing chain is an error.
	ListRules(ctx context.Context, table, chain string) ([]string, error)
}
