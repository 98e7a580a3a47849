// Package certs makes and checks the certificates microstack's TLS sockets
// use: a self-signed certificate generated on first start and kept in the
// agent's data folder (MeshAgent does the same for its own TLS identity),
// certificate fingerprints, and pinning a peer to a fingerprint, which is how
// MeshAgent trusts its server.
//
// Everything here is crypto/x509 and crypto/tls; the package only chooses
// safe defaults (ECDSA P-256, a random 128-bit serial, files written 0600).
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Errors callers distinguish.
var (
	// ErrPinMismatch: the peer's certificate matches none of the pins.
	ErrPinMismatch = errors.New("certificate does not match the pinned fingerprint")
	// ErrBadPin: a pin is neither a SHA-256 (32 bytes) nor a SHA-384 (48
	// bytes) digest.
	ErrBadPin = errors.New("pin must be a SHA-256 or SHA-384 digest")
	// ErrNoCertificate: the peer sent no certificate.
	ErrNoCertificate = errors.New("peer sent no certificate")
)

// Options configures SelfSigned. Zero fields take defaults.
type Options struct {
	// CommonName defaults to "microstack".
	CommonName string
	// Hosts are the DNS names and IP addresses the certificate is valid
	// for; default "localhost", 127.0.0.1 and ::1.
	Hosts []string
	// Validity defaults to ten years: an agent's self-signed identity is
	// trusted by pinning, not by expiry.
	Validity time.Duration
	// Now is the start of validity; default time.Now (an hour earlier, to
	// allow for clock skew).
	Now time.Time
}

// SelfSigned returns a new self-signed certificate and its key.
func SelfSigned(opts Options) (tls.Certificate, error) {
	if opts.CommonName == "" {
		opts.CommonName = "microstack"
	}
	if len(opts.Hosts) == 0 {
		opts.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if opts.Validity <= 0 {
		opts.Validity = 10 * 365 * 24 * time.Hour
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             opts.Now.Add(-time.Hour),
		NotAfter:              opts.Now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range opts.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: create: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: parse: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// File names LoadOrCreate uses inside its folder.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// LoadOrCreate loads the certificate kept in dir, or makes a self-signed one
// with opts, writes it there (key file mode 0600) and returns it. A
// certificate and key that exist but do not load are an error, never silently
// replaced: the agent's identity would change under its peers' pins.
func LoadOrCreate(dir string, opts Options) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		if c.Leaf == nil && len(c.Certificate) > 0 {
			c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
		}
		return c, nil
	}
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if certErr == nil || keyErr == nil {
		return tls.Certificate{}, fmt.Errorf("certs: %s holds a certificate that does not load: %w", dir, err)
	}
	c, err = SelfSigned(opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}

// writeFile writes through a temporary file and a rename, so a crash never
// leaves half a key.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// SHA256 returns the SHA-256 fingerprint of a DER certificate.
func SHA256(der []byte) []byte { s := sha256.Sum256(der); return s[:] }

// SHA384 returns the SHA-384 fingerprint of a DER certificate, the hash
// MeshAgent pins.
func SHA384(der []byte) []byte { s := sha512.Sum384(der); return s[:] }

// Hex formats a fingerprint as lower-case hex.
func Hex(sum []byte) string { return hex.EncodeToString(sum) }

// ParsePin reads a fingerprint written as hex, with or without colons.
func ParsePin(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPin, err)
	}
	if len(b) != sha256.Size && len(b) != sha512.Size384 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadPin, len(b))
	}
	return b, nil
}

// MatchPin reports whether the DER certificate matches one of pins, each a
// SHA-256 or SHA-384 fingerprint. It returns ErrBadPin for a pin of another
// length.
func MatchPin(der []byte, pins [][]byte) (bool, error) {
	for _, p := range pins {
		var sum []byte
		switch len(p) {
		case sha256.Size:
			sum = SHA256(der)
		case sha512.Size384:
			sum = SHA384(der)
		default:
			return false, fmt.Errorf("%w: %d bytes", ErrBadPin, len(p))
		}
		if subtle.ConstantTimeCompare(sum, p) == 1 {
			return true, nil
		}
	}
	return false, nil
}

// PinnedConfig returns a copy of base (a new config when nil) that trusts
// the peer's leaf certificate when, and only when, it matches one of pins,
// whoever signed it: chain verification is replaced by the pin check. The
// server name is still sent as SNI. The error of a mismatch wraps
// ErrPinMismatch and names the fingerprint the peer presented.
func PinnedConfig(base *tls.Config, pins [][]byte) (*tls.Config, error) {
	if len(pins) == 0 {
		return nil, fmt.Errorf("%w: no pins", ErrBadPin)
	}
	for _, p := range pins {
		if len(p) != sha256.Size && len(p) != sha512.Size384 {
			return nil, fmt.Errorf("%w: %d bytes", ErrBadPin, len(p))
		}
	}
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	// The pin replaces chain verification; crypto/tls still checks that the
	// peer holds the certificate's key.
	cfg.InsecureSkipVerify = true
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return ErrNoCertificate
		}
		ok, err := MatchPin(raw[0], pins)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: peer presented sha256 %s", ErrPinMismatch, Hex(SHA256(raw[0])))
		}
		return nil
	}
	return cfg, nil
}
