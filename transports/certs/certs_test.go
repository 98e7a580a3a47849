package certs_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/microstack-go/microstack/transports/certs"
)

func TestLoadOrCreateKeepsTheSameIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	a, err := certs.LoadOrCreate(dir, certs.Options{Hosts: []string{"agent.local", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := certs.LoadOrCreate(dir, certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Certificate[0], b.Certificate[0]) {
		t.Fatal("second LoadOrCreate made a new certificate")
	}
	st, err := os.Stat(filepath.Join(dir, certs.KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, err %v", st.Mode().Perm(), err)
	}
	if b.Leaf == nil || b.Leaf.DNSNames[0] != "agent.local" {
		t.Fatalf("leaf %+v", b.Leaf)
	}
	// A damaged key is an error, not a silent new identity.
	if err := os.WriteFile(filepath.Join(dir, certs.KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.LoadOrCreate(dir, certs.Options{}); err == nil {
		t.Fatal("a damaged key loaded")
	}
}

func TestPinnedConfigAcceptsTheRightCertificateOnly(t *testing.T) {
	server, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{server}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(pin []byte) error {
		cfg, err := certs.PinnedConfig(&tls.Config{ServerName: "localhost"}, [][]byte{pin})
		if err != nil {
			return err
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(certs.SHA256(server.Certificate[0])); err != nil {
		t.Fatalf("right SHA-256 pin refused: %v", err)
	}
	if err := dial(certs.SHA384(server.Certificate[0])); err != nil {
		t.Fatalf("right SHA-384 pin refused: %v", err)
	}
	if err := dial(certs.SHA256(other.Certificate[0])); !errors.Is(err, certs.ErrPinMismatch) {
		t.Fatalf("wrong pin: %v", err)
	}
	if _, err := certs.PinnedConfig(nil, [][]byte{{1, 2, 3}}); !errors.Is(err, certs.ErrBadPin) {
		t.Fatalf("short pin: %v", err)
	}
	// Without a pin, default verification refuses the self-signed server.
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost"})
	var unknown x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &unknown) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("unpinned dial to a self-signed server: %v", err)
	}
}

func TestParsePin(t *testing.T) {
	c, _ := certs.SelfSigned(certs.Options{})
	sum := certs.SHA256(c.Certificate[0])
	hexWithColons := ""
	for i, b := range sum {
		if i > 0 {
			hexWithColons += ":"
		}
		hexWithColons += fmt.Sprintf("%02X", b)
	}
	for _, in := range []string{certs.Hex(sum), hexWithColons} {
		got, err := certs.ParsePin(in)
		if err != nil || !bytes.Equal(got, sum) {
			t.Fatalf("ParsePin(%q) = %x, %v", in, got, err)
		}
	}
	if _, err := certs.ParsePin("abcd"); !errors.Is(err, certs.ErrBadPin) {
		t.Fatalf("short pin: %v", err)
	}
}

func ExampleSelfSigned() {
	c, err := certs.SelfSigned(certs.Options{Hosts: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Leaf.Subject.CommonName, c.Leaf.DNSNames, c.Leaf.IPAddresses)
	fmt.Println(len(certs.Hex(certs.SHA256(c.Certificate[0]))), "hex digits of SHA-256 fingerprint")
	// Output:
	// microstack [localhost] [127.0.0.1]
	// 64 hex digits of SHA-256 fingerprint
}
