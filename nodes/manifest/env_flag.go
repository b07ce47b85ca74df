package manifest

// EnvFlag is the value an etcd environment file (systemd mode) gives the
// flag named flag ("peer-cert-file" reads ETCD_PEER_CERT_FILE).
func EnvFlag(data []byte, flag string) (string, bool, error) {
	env, err := parseEnv(data)
	if err != nil {
		return "", false, err
	}
	e, ok := env[envKey(flag)]
	return e.value, ok, nil
}
