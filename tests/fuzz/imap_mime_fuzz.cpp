// Fuzz target: the MIME parser and the BODYSTRUCTURE/ENVELOPE/section code on arbitrary
// messages. Invariants: no crash; every part's offsets lie inside the message and are ordered;
// a part re-encoded for BODY[part] because it holds NUL (mime::reencoded_body) is NUL-free
// base64 that decodes to the part's body exactly.
#include "imap/mime.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::home::imap;

static void check(std::string_view m, const mime::part& p) {
    if (!(p.begin <= p.body_begin && p.body_begin <= p.end && p.end <= m.size())) std::abort();
    if (auto b64 = mime::reencoded_body(m, p)) {
        if (b64->find('\0') != std::string::npos) std::abort();
        if (mime::decode_base64(*b64) != mime::body_of(m, p)) std::abort();
    }
    for (const auto& c : p.children) check(m, c);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view m(reinterpret_cast<const char*>(data), size);
    auto t = mime::parse(m);
    check(m, t);
    (void)mime::body_structure(m, t, true);
    (void)mime::body_structure(m, t, false);
    (void)mime::envelope(mime::header_of(m, t));
    (void)mime::select_fields(mime::header_of(m, t), {"From", "Subject"}, false);
    (void)mime::fields(mime::header_of(m, t), "X-Extra");
    (void)mime::find_part(t, {1, 2, 1});
    (void)mime::find_part(t, {2});
    (void)mime::find_part(t, {1, 2, 1, 1});
    return 0;
}
