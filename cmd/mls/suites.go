package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/arbormls/mls/ciphersuite"
)

type suiteJSON struct {
	Code         uint16 `json:"code"`
	CodeHex      string `json:"code_hex"`
	Name         string `json:"name"`
	KEM          string `json:"kem"`
	KDF          string `json:"kdf"`
	AEAD         string `json:"aead"`
	Hash         string `json:"hash"`
	Signature    string `json:"signature"`
	FIPSApproved bool   `json:"fips_approved"`
}

func cmdSuites(args []string, out io.Writer) error {
	c := newCommand("suites", "[--table]",
		"List the registered cipher suites of the profile MLS_SUITE_PROFILE names\n"+
			"(default: \"default\"), as JSON or as a text table.")
	table := c.fs.Bool("table", false, "print an aligned text table instead of JSON")
	if err := c.parse(args, out); err != nil {
		return err
	}
	var rows []suiteJSON
	for _, s := range ciphersuite.Suites() {
		rows = append(rows, suiteJSON{
			Code: uint16(s.ID), CodeHex: fmt.Sprintf("0x%04x", uint16(s.ID)), Name: s.Name,
			KEM: s.KEM.String(), KDF: s.KDF.String(), AEAD: s.AEAD.String(),
			Hash: s.Hash.String(), Signature: s.Signature.String(), FIPSApproved: s.FIPSApproved,
		})
	}
	if !*table {
		return writeJSON(out, map[string]any{
			"profile":   ciphersuite.Profile(),
			"fips_mode": ciphersuite.FIPSMode(),
			"suites":    rows,
		})
	}
	fmt.Fprintf(out, "profile %s, FIPS 140-3 mode %v\n", ciphersuite.Profile(), ciphersuite.FIPSMode())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tNAME\tKEM\tAEAD\tHASH\tSIGNATURE\tFIPS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", r.CodeHex, r.Name, r.KEM, r.AEAD, r.Hash, r.Signature, r.FIPSApproved)
	}
	return tw.Flush()
}
