package console

// Explainer answers the explain form: get reads the form's fields (the
// /api/explain parameters: mac, arch, user_class, vendor_class, giaddr,
// client_id, circuit_id, remote_id). An error is a bad field, shown to the
// user.
type Explainer func(get func(string) string) (Explanation, error)

// Explanation is what a machine would get from bootsrv, and why, as the
// explain page shows it (cmd/bootsrv fills it from netboot.Explanation).
type Explanation struct {
	MAC string
	// DHCPOff: this server does not answer DHCP; the rest but Notes is
	// empty.
	DHCPOff bool
	// Reply is the message the exchange ends with (ack, offer) or "none",
	// with Why.
	Reply, Why          string
	Address, AddressWhy string
	Pool                string
	NextServer          string
	Bootfile, DecidedBy string
	Steps               []string
	Options             []Option
	File                *BootFile
	Warnings, Notes     []string
}

// Option is a DHCP option of the reply.
type Option struct {
	Code        int
	Name, Value string
}

// BootFile is what the bootfile named is, here.
type BootFile struct {
	Name, Kind string // kind: file, script, url or missing
	Size       int64
	TFTP, HTTP string // where this server serves it
	Script     string // a boot script as this machine gets it
}
