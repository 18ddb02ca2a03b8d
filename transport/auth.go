package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/presenced/presenced/messages"
)

// Auth modes of PROTOCOL.md.
const (
	AuthJWT = "jwt"
	AuthDev = "dev"
)

// AuthOptions configure how a request proves who it is.
type AuthOptions struct {
	// Mode is AuthJWT (default) or AuthDev.
	Mode string
	// Secret enables HS256 tokens.
	Secret []byte
	// PublicKeyPEM enables RS256 (an RSA key) or ES256 (a P-256 key) tokens.
	PublicKeyPEM []byte
	// Issuer and Audience are checked when set.
	Issuer, Audience string
}

// Identity is an authenticated user.
type Identity struct {
	UserID string
	Role   string
}

// authenticator checks the credentials of an upgrade or an API request.
// Each algorithm is pinned to the key configured for it, so that neither
// "none" nor a token signed with the public key as an HMAC secret passes.
type authenticator struct {
	mode    string
	parser  *jwt.Parser
	hmacKey []byte
	rsaKey  *rsa.PublicKey
	ecKey   *ecdsa.PublicKey
}

type claims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

func newAuthenticator(o AuthOptions) (*authenticator, error) {
	a := &authenticator{mode: o.Mode}
	switch o.Mode {
	case AuthDev:
		return a, nil
	case AuthJWT, "":
		a.mode = AuthJWT
	default:
		return nil, fmt.Errorf("unknown auth mode %q", o.Mode)
	}
	var algs []string
	if len(o.Secret) > 0 {
		a.hmacKey = o.Secret
		algs = append(algs, jwt.SigningMethodHS256.Alg())
	}
	if len(o.PublicKeyPEM) > 0 {
		alg, err := a.loadPublicKey(o.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		algs = append(algs, alg)
	}
	if len(algs) == 0 {
		return nil, errors.New("jwt auth needs a secret or a public key")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5 * time.Second),
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

func (a *authenticator) loadPublicKey(pemBytes []byte) (alg string, err error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", errors.New("public key file holds no PEM block")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		if rk, rerr := x509.ParsePKCS1PublicKey(block.Bytes); rerr == nil {
			key = rk
		} else {
			return "", fmt.Errorf("parsing public key: %w", err)
		}
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		a.rsaKey = k
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("ES256 needs a P-256 public key")
		}
		a.ecKey = k
		return jwt.SigningMethodES256.Alg(), nil
	default:
		return "", fmt.Errorf("unsupported public key type %T (want RSA or P-256 ECDSA)", key)
	}
}

// identify authenticates r. Its error is always unauthorized, with a
// message that says what was wrong but never echoes the credential.
func (a *authenticator) identify(r *http.Request) (Identity, *messages.Error) {
	var id Identity
	if a.mode == AuthDev {
		q := r.URL.Query()
		// Cloned: unescaped as it is, the id would point into the request
		// line and keep all of it for the connection's life.
		id = Identity{UserID: strings.Clone(q.Get("user")), Role: q.Get("role")}
	} else {
		tok := bearer(r)
		if tok == "" {
			return Identity{}, unauthorized("missing credentials: send Authorization: Bearer <token> or ?token=")
		}
		var c claims
		if _, err := a.parser.ParseWithClaims(tok, &c, a.key); err != nil {
			return Identity{}, unauthorized("invalid token: " + tokenProblem(err))
		}
		id = Identity{UserID: c.Subject, Role: c.Role}
	}
	if !messages.ValidID(id.UserID) {
		return Identity{}, unauthorized("user id must be 1-128 characters of [A-Za-z0-9._:@-]")
	}
	if !messages.ValidRole(id.Role) {
		return Identity{}, unauthorized("role must be CLIENT, FREELANCER or ADMIN")
	}
	id.Role = messages.CanonicalRole(id.Role)
	return id, nil
}

// key picks the verification key by the token's algorithm family; the
// parser has already refused any algorithm that is not configured.
func (a *authenticator) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if a.hmacKey != nil {
			return a.hmacKey, nil
		}
	case *jwt.SigningMethodRSA:
		if a.rsaKey != nil {
			return a.rsaKey, nil
		}
	case *jwt.SigningMethodECDSA:
		if a.ecKey != nil {
			return a.ecKey, nil
		}
	}
	return nil, fmt.Errorf("algorithm %v not accepted", t.Header["alg"])
}

func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

func tokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim (exp) is missing"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "not valid yet"
	default:
		return "malformed"
	}
}

func unauthorized(msg string) *messages.Error {
	return &messages.Error{Code: messages.CodeUnauthorized, Message: msg}
}
