-- DHCPv6 leases share the table: the address column already takes IPv6
-- addresses. A DHCPv6 client is the DUID and IAID of one identity
-- association (RFC 8415 §11, §12); its client column is 'd' + DUID +
-- IAID. Both stay empty (0) on DHCPv4 rows.
ALTER TABLE bootsrv_leases
    ADD COLUMN duid text NOT NULL DEFAULT '',   -- hex
    ADD COLUMN iaid bigint NOT NULL DEFAULT 0;
