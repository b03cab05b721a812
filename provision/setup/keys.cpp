// WireGuard keys via `wg`, self-signed TLS certificates via OpenSSL 3; see keys.hpp.
#include "setup/keys.hpp"
#include "splitmail/text/trim.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/net/openssl_error.hpp"
#include "splitmail/sys/clock.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

extern char** environ;

namespace splitmail::provision::setup {

namespace {

using splitmail::net::openssl_error;

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using x509_ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using bio_ptr = std::unique_ptr<BIO, decltype(&BIO_free)>;

bio_ptr mem_bio(std::string_view text) {
    return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
}

std::string bio_text(BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

pkey_ptr read_key(std::string_view pem) {
    auto b = mem_bio(pem);
    EVP_PKEY* k = b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr;
    ERR_clear_error();
    return pkey_ptr(k, &EVP_PKEY_free);
}

std::string trim(const std::string& s) { return std::string(text::trim(s)); }

struct pipe_pair {
    int fd[2] = {-1, -1};
    ~pipe_pair() {
        for (int f : fd)
            if (f >= 0) ::close(f);
    }
    void close_end(int i) {
        if (fd[i] >= 0) ::close(fd[i]);
        fd[i] = -1;
    }
};

std::expected<std::string, std::string> certificate_for(EVP_PKEY* key, std::string_view hostname,
                                                        int days,
                                                        const std::vector<std::string>& also) {
    x509_ptr cert(X509_new(), &X509_free);
    if (!cert) return std::unexpected("cannot make a certificate: " + openssl_error());
    X509_set_version(cert.get(), 2); // v3
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1)
        return std::unexpected("no random serial: " + openssl_error());
    serial[0] &= 0x7f; // positive (RFC 5280 4.1.2.2)
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr),
                                                   &BN_free);
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())))
        return std::unexpected("cannot set the serial: " + openssl_error());
    // Valid from a little in the past so a client whose clock is behind accepts it.
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    const std::string host(hostname);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                                   0) != 1)
        return std::unexpected("cannot set CN=" + host + ": " + openssl_error());
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    std::string san = "DNS:" + host;
    for (const auto& n : also)
        if (n != host) san += ",DNS:" + n;
    const std::pair<int, const char*> exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"}, {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth,clientAuth"}, {NID_subject_alt_name, san.c_str()},
        {NID_subject_key_identifier, "hash"},
    };
    for (const auto& [nid, value] : exts) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        if (ext == nullptr)
            return std::unexpected(std::string("cannot add extension ") + value + ": " +
                                   openssl_error());
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (X509_sign(cert.get(), key, EVP_sha256()) == 0)
        return std::unexpected("cannot sign the certificate: " + openssl_error());
    bio_ptr out(BIO_new(BIO_s_mem()), &BIO_free);
    if (!out || PEM_write_bio_X509(out.get(), cert.get()) != 1)
        return std::unexpected("cannot encode the certificate: " + openssl_error());
    return bio_text(out.get());
}

} // namespace

std::expected<std::string, std::string> run_program(const std::vector<std::string>& argv,
                                                    std::string_view input) {
    const std::string& prog = argv.at(0);
    pipe_pair in, out, err;
    if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0 ||
        ::pipe2(err.fd, O_CLOEXEC) != 0)
        return std::unexpected(std::string("pipe: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in.fd[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, prog.c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        if (rc == ENOENT && prog == "wg")
            return std::unexpected("cannot run wg: not found in PATH; install wireguard-tools "
                                   "(apt-get install wireguard-tools)");
        return std::unexpected("cannot run " + prog + ": " + std::strerror(rc));
    }
    in.close_end(0);
    out.close_end(1);
    err.close_end(1);
    // The inputs are tiny (a key); a SIGPIPE from a child that exits early must not kill us.
    struct sigaction ign {
    }, old{};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
    std::size_t done = 0;
    while (done < input.size()) {
        const ssize_t n = ::write(in.fd[1], input.data() + done, input.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        done += static_cast<std::size_t>(n);
    }
    in.close_end(1);
    ::sigaction(SIGPIPE, &old, nullptr);
    std::string stdout_text, stderr_text;
    pollfd fds[2] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (auto& p : fds) {
            if (p.fd < 0 || p.revents == 0) continue;
            char buf[4096];
            const ssize_t n = ::read(p.fd, buf, sizeof buf);
            if (n > 0) {
                (p.fd == out.fd[0] ? stdout_text : stderr_text).append(buf, std::size_t(n));
            } else if (n == 0 || errno != EINTR) {
                p.fd = -1;
                --open_fds;
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return stdout_text;
    std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
    stderr_text = trim(stderr_text);
    if (!stderr_text.empty()) why += ": " + stderr_text;
    return std::unexpected(prog + " failed (" + why + ")");
}

bool valid_wg_key(std::string_view key) {
    // 32 octets = 43 base64 digits + one '=' pad; the last digit carries 2 bits of padding.
    if (key.size() != 44 || key[43] != '=') return false;
    static constexpr std::string_view digits =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < 43; ++i)
        if (digits.find(key[i]) == std::string_view::npos) return false;
    return (digits.find(key[42]) & 3) == 0;
}

std::expected<wg_keypair, std::string> wg_generate() {
    auto priv = run_program({"wg", "genkey"}, "");
    if (!priv) return std::unexpected(priv.error());
    wg_keypair kp;
    kp.private_key = trim(*priv);
    if (!valid_wg_key(kp.private_key))
        return std::unexpected("wg genkey printed something that is not a key");
    auto pub = wg_public_key(kp.private_key);
    if (!pub) return std::unexpected(pub.error());
    kp.public_key = *pub;
    return kp;
}

std::expected<std::string, std::string> wg_public_key(std::string_view private_key) {
    if (!valid_wg_key(private_key))
        return std::unexpected("not a WireGuard private key (44 characters of base64)");
    const std::string input = std::string(private_key) + "\n";
    auto pub = run_program({"wg", "pubkey"}, input);
    if (!pub) return std::unexpected(pub.error());
    std::string key = trim(*pub);
    if (!valid_wg_key(key)) return std::unexpected("wg pubkey printed something that is not a key");
    return key;
}

std::expected<tls_pair, std::string> make_self_signed(std::string_view hostname, int days,
                                                      const std::vector<std::string>& also) {
    EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (raw == nullptr) return std::unexpected("cannot make a P-256 key: " + openssl_error());
    pkey_ptr key(raw, &EVP_PKEY_free);
    bio_ptr b(BIO_new(BIO_s_mem()), &BIO_free);
    if (!b ||
        PEM_write_bio_PrivateKey(b.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return std::unexpected("cannot encode the key: " + openssl_error());
    tls_pair p;
    p.key_pem = bio_text(b.get());
    auto cert = certificate_for(key.get(), hostname, days, also);
    if (!cert) return std::unexpected(cert.error());
    p.cert_pem = std::move(*cert);
    return p;
}

std::expected<std::string, std::string> self_signed_for_key(std::string_view key_pem,
                                                            std::string_view hostname, int days,
                                                            const std::vector<std::string>& also) {
    auto key = read_key(key_pem);
    if (!key) return std::unexpected("not a PEM private key");
    return certificate_for(key.get(), hostname, days, also);
}

bool valid_private_key(std::string_view key_pem) { return static_cast<bool>(read_key(key_pem)); }

bool cert_covers_host(std::string_view cert_pem, std::string_view hostname) {
    auto b = mem_bio(cert_pem);
    X509* raw = b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr;
    if (raw == nullptr) {
        ERR_clear_error();
        return false;
    }
    x509_ptr cert(raw, &X509_free);
    return X509_check_host(cert.get(), hostname.data(), hostname.size(), 0, nullptr) == 1;
}

std::expected<cert_info, std::string>
inspect_cert(std::string_view cert_pem, std::string_view key_pem, std::string_view name) {
    const std::string file(name);
    auto b = mem_bio(cert_pem);
    X509* raw = b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr;
    if (raw == nullptr) {
        ERR_clear_error();
        return std::unexpected(file + ": not a PEM certificate");
    }
    x509_ptr cert(raw, &X509_free);
    cert_info info;
    info.sha256_hex = net::cert_sha256_hex(cert.get());
    if (info.sha256_hex.empty()) return std::unexpected(file + ": cannot hash the certificate");
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) == 1)
        info.not_after = sys::from_utc_tm(tm);
    info.self_signed =
        X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0;
    if (!key_pem.empty()) {
        auto key = read_key(key_pem);
        if (!key) return std::unexpected(file + ": its key file is not a PEM private key");
        if (X509_check_private_key(cert.get(), key.get()) != 1) {
            ERR_clear_error();
            return std::unexpected(file + ": the certificate does not belong to its key file");
        }
    }
    return info;
}

} // namespace splitmail::provision::setup
