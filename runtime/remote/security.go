package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Errors of the security options.
var (
	// ErrInsecure refuses to start remoting with no Secret, no
	// Certificate and Insecure unset: actors are never reachable by an
	// unauthenticated process by accident.
	ErrInsecure = errors.New("remote: no Secret or Certificate; set Security.Insecure to run without authentication")
	// ErrShortSecret refuses a Secret shorter than MinSecretLen bytes.
	ErrShortSecret = errors.New("remote: secret too short")
)

// MinSecretLen is the shortest Security.Secret accepted.
const MinSecretLen = 16

// serverName is the name every node's certificate carries and every node
// checks, since nodes are reached by address.
const serverName = "microstack.remote"

// Security says which processes may reach an agent's actors. Every node of
// protoactor's remote layer both serves and dials (answers travel over a
// connection the answering node opens), so one Security serves both ways:
// TLS 1.3 with a certificate on each side (mutual TLS), each side checking
// the other's.
type Security struct {
	// Secret is a secret shared by every trusted process (at least
	// MinSecretLen bytes, random). A certificate authority is derived from
	// it; each process signs its own short-lived certificate with it at
	// start, and accepts only peers whose certificate it signed. A process
	// without the secret cannot complete a handshake.
	Secret []byte
	// Certificate and CAs, instead of Secret: the process presents
	// Certificate (whose name must include "microstack.remote") and trusts
	// peers whose certificate chains to CAs (client certificates issued by
	// the operator's own authority).
	Certificate *tls.Certificate
	CAs         *x509.CertPool
	// Insecure, when set with neither of the above, runs gRPC in plain
	// text without authentication: for tests on loopback only.
	Insecure bool
}

// credentials returns the gRPC server and dial options of s; refused
// counts the handshakes the server refused.
func (s Security) grpcOptions(refused *atomic.Int64, onRefused func(net.Addr, error)) ([]grpc.ServerOption, []grpc.DialOption, error) {
	if s.Secret == nil && s.Certificate == nil {
		if !s.Insecure {
			return nil, nil, ErrInsecure
		}
		return nil, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	cert, pool := s.Certificate, s.CAs
	if s.Secret != nil {
		if len(s.Secret) < MinSecretLen {
			return nil, nil, fmt.Errorf("%w: %d bytes, want %d or more", ErrShortSecret, len(s.Secret), MinSecretLen)
		}
		var err error
		cert, pool, err = fromSecret(s.Secret)
		if err != nil {
			return nil, nil, err
		}
	}
	if pool == nil {
		return nil, nil, errors.New("remote: Security.Certificate needs Security.CAs")
	}
	server := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	client := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*cert},
		RootCAs:      pool,
		ServerName:   serverName,
	}
	creds := &countingCreds{TransportCredentials: credentials.NewTLS(server), refused: refused, onRefused: onRefused}
	return []grpc.ServerOption{grpc.Creds(creds)},
		[]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(client))}, nil
}

// fromSecret derives the certificate authority from secret (the same on
// every process that holds it) and signs a new certificate for this
// process with it.
func fromSecret(secret []byte) (*tls.Certificate, *x509.CertPool, error) {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("microstack remote CA v1"))
	caKey := ed25519.NewKeyFromSeed(mac.Sum(nil))
	// Fixed fields and ed25519's deterministic signatures make the CA
	// certificate byte-identical on every process.
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "microstack remote CA"},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("remote: derive CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	leafTmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: serverName},
		DNSNames:     []string{serverName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, pub, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("remote: sign certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, pool, nil
}

// countingCreds counts and reports the handshakes the server refuses: a
// peer without the secret, without a certificate, or speaking plain text.
type countingCreds struct {
	credentials.TransportCredentials
	refused   *atomic.Int64
	onRefused func(net.Addr, error)
}

func (c *countingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.refused.Add(1)
		if c.onRefused != nil {
			c.onRefused(conn.RemoteAddr(), err)
		}
	}
	return out, info, err
}

func (c *countingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.TransportCredentials.ClientHandshake(ctx, authority, conn)
}

func (c *countingCreds) Clone() credentials.TransportCredentials {
	return &countingCreds{TransportCredentials: c.TransportCredentials.Clone(), refused: c.refused, onRefused: c.onRefused}
}
