package transport

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
)

// The inbound fast path (inbound.go) decrypts the client's SRTP itself, so it needs the SRTP
// master keys that Pion's DTLS transport derives and keeps to itself. keyCapture rebuilds them
// from two public hooks of Pion's DTLS handshake, one keyCapture per PeerConnection:
//
//   - the key log (SettingEngine.SetDTLSKeyLogWriter, the NSS key log format packet analysers
//     read) gives the client random and the master secret;
//   - the ServerHello hook (SettingEngine.SetDTLSServerHelloMessageHook) gives the server
//     random, the cipher suite (its hash is the PRF's) and the chosen SRTP protection profile.
//
// The server must be the DTLS server for the hook to run: Conn.Configure sets
// SetAnsweringDTLSRole(DTLSRoleServer). From those parts the RFC 5705 exporter with the label
// "EXTRACTOR-dtls_srtp" yields the keys as RFC 5764 section 4.2 lays them out (srtp.Config
// does the layout). If anything is missing (an offer that makes the server the DTLS client, a
// profile srtp does not know), no keys come out and every packet takes Pion's own path.

// srtpKeys are the keys of one DTLS-SRTP association, seen from the server.
type srtpKeys struct {
	profile srtp.ProtectionProfile
	keys    srtp.SessionKeys // Local* protect what the server sends, Remote* what it receives
}

// keyCapture collects the handshake parts and calls ready once the keys are known. Write and
// serverHello are called by Pion's DTLS handshake goroutine; mu guards the fields.
type keyCapture struct {
	ready func(srtpKeys)

	mu           sync.Mutex
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      dtls.SRTPProtectionProfile
	master       []byte // the master secret the keys were last derived from
}

// serverHello is the ServerHello hook: it notes the server random, the cipher suite and the
// SRTP profile, and returns the message unchanged.
func (k *keyCapture) serverHello(m handshake.MessageServerHello) handshake.Message {
	random := m.Random.MarshalFixed()
	k.mu.Lock()
	k.serverRandom = random[:]
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	k.profile = 0
	for _, ext := range m.Extensions {
		if useSRTP, ok := ext.(*extension.UseSRTP); ok && len(useSRTP.ProtectionProfiles) > 0 {
			k.profile = useSRTP.ProtectionProfiles[0]
		}
	}
	k.mu.Unlock()
	return &m
}

// Write receives the DTLS key log: lines of "CLIENT_RANDOM <client random> <master secret>" in
// hex. It never fails (the handshake must not depend on it); lines it cannot use are ignored.
func (k *keyCapture) Write(line []byte) (int, error) {
	fields := bytes.Fields(line)
	if len(fields) != 3 || string(fields[0]) != "CLIENT_RANDOM" {
		return len(line), nil
	}
	clientRandom, err1 := hex.DecodeString(string(fields[1]))
	master, err2 := hex.DecodeString(string(fields[2]))
	if err1 != nil || err2 != nil {
		return len(line), nil
	}
	k.mu.Lock()
	if bytes.Equal(master, k.master) {
		k.mu.Unlock()
		return len(line), nil // the same handshake logged twice: keep the contexts running
	}
	keys, err := deriveSRTPKeys(master, clientRandom, k.serverRandom, k.suite, k.profile)
	if err == nil {
		k.master = master
	}
	k.mu.Unlock()
	if err == nil && k.ready != nil {
		k.ready(keys)
	}
	return len(line), nil
}

// deriveSRTPKeys runs the DTLS-SRTP exporter for a server with the given handshake parts.
func deriveSRTPKeys(master, clientRandom, serverRandom []byte, suite dtls.CipherSuiteID,
	profile dtls.SRTPProtectionProfile,
) (srtpKeys, error) {
	if len(serverRandom) == 0 || len(clientRandom) == 0 {
		return srtpKeys{}, errors.New("derive srtp keys: handshake randoms missing")
	}
	srtpProfile, ok := srtpProfiles[profile]
	if !ok {
		return srtpKeys{}, fmt.Errorf("derive srtp keys: protection profile %#04x not supported", uint16(profile))
	}
	exporter := &tls12Exporter{master: master, clientRandom: clientRandom, serverRandom: serverRandom,
		hash: prfHash(suite)}
	config := srtp.Config{Profile: srtpProfile}
	if err := config.ExtractSessionKeysFromDTLS(exporter, false); err != nil {
		return srtpKeys{}, fmt.Errorf("derive srtp keys: %w", err)
	}
	return srtpKeys{profile: srtpProfile, keys: config.Keys}, nil
}

// srtpProfiles maps the DTLS use_srtp profiles Pion negotiates to srtp's.
var srtpProfiles = map[dtls.SRTPProtectionProfile]srtp.ProtectionProfile{
	dtls.SRTP_AES128_CM_HMAC_SHA1_80: srtp.ProtectionProfileAes128CmHmacSha1_80,
	dtls.SRTP_AES128_CM_HMAC_SHA1_32: srtp.ProtectionProfileAes128CmHmacSha1_32,
	dtls.SRTP_AEAD_AES_128_GCM:       srtp.ProtectionProfileAeadAes128Gcm,
	dtls.SRTP_AEAD_AES_256_GCM:       srtp.ProtectionProfileAeadAes256Gcm,
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite: SHA-384 for the *_SHA384 suites,
// SHA-256 for every other suite Pion implements.
func prfHash(suite dtls.CipherSuiteID) prf.HashFunc {
	switch suite {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	default:
		return sha256.New
	}
}

// tls12Exporter is the RFC 5705 keying material exporter of a finished TLS 1.2 / DTLS 1.2
// handshake: PRF(master secret, label, client random + server random).
type tls12Exporter struct {
	master, clientRandom, serverRandom []byte
	hash                               prf.HashFunc
}

// ExportKeyingMaterial implements srtp.KeyingMaterialExporter.
func (e *tls12Exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("export keying material: a context is not supported")
	}
	seed := make([]byte, 0, len(label)+len(e.clientRandom)+len(e.serverRandom))
	seed = append(seed, label...)
	seed = append(seed, e.clientRandom...)
	seed = append(seed, e.serverRandom...)
	return prf.PHash(e.master, seed, length, e.hash)
}
