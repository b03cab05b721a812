#pragma once
// IMAP command codec (RFC 3501 section 9, RFC 9051 section 9): the incremental command reader
// (lines, synchronizing and non-synchronizing literals, limits) and the tokenizer that turns one
// complete command into a tag, a name and an argument tree. Pure: bytes in, values out.
//
// Guarantees:
// - Correct for any split of the input (byte by byte included): the reader only acts on
//   complete lines and counts literal octets exactly.
// - A synchronizing literal {n} is reported as `continuation` (the caller writes "+ ...")
//   before its octets are expected; a non-synchronizing one {n+} (LITERAL+ and LITERAL-,
//   RFC 7888: we accept any size up to the caps, so LITERAL-'s 4096 is no limit) is not.
//   "{n-}" (no such syntax) is read like "{n+}", so its octets are never taken for commands.
//   literal8 "~{n}" / "~{n+}" (RFC 9051 4.3) is read like a literal (it may contain NUL).
// - Limits: a line (excluding literal octets) over `max_line` gives BAD and the rest of that
//   line is skipped; a literal over the cap gives NO [TOOBIG] (synchronizing: the client
//   sends no octets, reading goes on) or BAD [TOOBIG] + close (non-synchronizing: the octets
//   are already on their way; RFC 7888 section 4); lists nested deeper than `max_depth` are
//   BAD. APPEND may carry literals up to `max_append_literal`, other commands `max_literal`;
//   the cap holds for the sum of all literals of one command (a MULTIAPPEND's messages
//   together), so one command never buffers more than that.
// - Bare LF ends a line like CRLF (lenient, as common servers are).
// Does not: know what commands mean, or write anything.
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::home::imap {

struct codec_limits {
    std::size_t max_line = 64 * 1024;            // octets per line, literals excluded
    std::uint64_t max_literal = 64 * 1024;       // literals of commands other than APPEND
    std::uint64_t max_append_literal = 64 << 20; // APPEND message literal (APPENDLIMIT)
    std::size_t max_depth = 16;                  // nested parenthesised lists
    std::size_t max_literals = 256;              // literals in one command
};

// One argument. Atoms keep their text as sent (including any [section]<partial> part);
// strings are quoted strings or literals with their content.
struct value {
    enum class kind { atom, string, list };
    kind k = kind::atom;
    std::string text;
    std::vector<value> items; // list
    bool literal = false;     // string came as a literal

    bool is_atom() const { return k == kind::atom; }
    bool is_list() const { return k == kind::list; }
    bool is_nil() const; // atom NIL
    // atom or string (astring, RFC 3501 section 9)
    bool is_astring() const { return k != kind::list; }
};

struct command {
    std::string tag;
    std::string name; // upper case; "UID FETCH" etc. for UID commands
    std::vector<value> args;
};

struct parse_error {
    std::string tag; // "*" when no tag could be read
    std::string text;
};

// Tokenizes one complete command as collected by command_reader (line text with each literal
// written as "{n}\r\n" or "{n+}\r\n" followed by its octets).
std::expected<command, parse_error> parse_command(std::string_view raw, std::size_t max_depth = 16);
// Tokenizes arguments only (used for the argument part of a raw command).
std::expected<std::vector<value>, std::string> parse_arguments(std::string_view raw,
                                                               std::size_t max_depth = 16);

class command_reader {
public:
    enum class event_kind {
        need_more,    // feed more bytes
        continuation, // a synchronizing literal was accepted: send "+ ..." now
        complete,     // text() holds one complete command (or raw line in line mode)
        error         // error_tag()/error_text() hold the response; fatal() says close
    };

    explicit command_reader(codec_limits l = {}) : lim_(l) {}

    void feed(std::string_view bytes) { in_.append(bytes); }
    event_kind next();

    // After `complete`: the command (or, in line mode, the line without its end).
    const std::string& text() const { return done_; }
    // After `error`: the response to send ("TAG NO [TOOBIG] ..." style, without CRLF).
    const std::string& error_response() const { return err_; }
    bool fatal() const { return fatal_; }

    // The next complete line is returned raw (AUTHENTICATE response, IDLE "DONE").
    void set_line_mode(bool on) { line_mode_ = on; }
    // Drops everything buffered (after STARTTLS: RFC 3501 6.2.1, no plaintext injection).
    void discard_buffered();
    std::size_t buffered() const { return in_.size() - pos_; }
    // Between commands (after need_more, once the last command has run): drops consumed input
    // and frees buffers a long command or literal left large. text() is invalid afterwards.
    void release_memory();
    const codec_limits& limits() const { return lim_; }

private:
    event_kind take_line();
    void compact();

    codec_limits lim_;
    std::string in_;
    std::size_t pos_ = 0;
    std::string cmd_; // command being collected
    std::uint64_t literal_left_ = 0;
    bool in_literal_ = false;
    bool skipping_ = false; // discarding the rest of an over-long line
    bool line_mode_ = false;
    bool sync_ = false;
    std::size_t literals_ = 0;
    std::uint64_t literal_cap_ = 0;
    std::string done_, err_;
    bool fatal_ = false;
};

// Sequence sets (RFC 3501 9 "sequence-set"); `*` is stored as 0 and means "the largest".
struct seq_range {
    std::uint32_t lo = 0, hi = 0;
};
struct sequence_set {
    std::vector<seq_range> ranges;
    bool saved = false; // "$" (RFC 5182 search result variable)
    // Does n belong to the set, with `*` meaning `largest`? O(log ranges): a set of many
    // ranges is sorted and merged once per `largest` (issue 11: "1,3,5,...", 30,000 ranges,
    // tested against every message made FETCH/SEARCH/STORE quadratic).
    bool contains(std::uint32_t n, std::uint32_t largest) const;

    // The merged ranges contains() searches, for `norm_largest_` and `norm_count_` ranges.
    mutable std::vector<seq_range> norm_;
    mutable std::uint32_t norm_largest_ = 0;
    mutable std::size_t norm_count_ = 0;
};
std::expected<sequence_set, std::string> parse_sequence_set(std::string_view s);

// Mailbox names: modified UTF-7 (RFC 3501 5.1.3), the form on disk and on the wire for
// IMAP4rev1 clients, and UTF-8, the wire form after ENABLE IMAP4rev2 (RFC 9051 5.1).
// nullopt: not valid modified UTF-7 (unterminated or badly padded "&...-" run, a character
// outside 0x20..0x7e, an encoded printable ASCII or control character, a broken surrogate
// pair) or not valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated; control
// characters).
std::optional<std::string> mutf7_to_utf8(std::string_view s);
std::optional<std::string> utf8_to_mutf7(std::string_view s);
// Whether `s` is a mailbox name in canonical modified UTF-7: it decodes (see above, no control
// characters either) and encoding the result gives `s` back ("&-" for "&" included).
bool mutf7_valid(std::string_view s);

// Response formatting (RFC 3501 section 9 string/astring/nstring).
// "{n}\r\n" + s, with every NUL octet sent as 0x80 (a literal is CHAR8, never NUL; same
// length, so sizes and partial-fetch offsets stay true). literal8 is the caller's (BINARY).
std::string plain_literal(std::string_view s);
// The same, appended to `out` (no temporary copy of a large message).
void append_plain_literal(std::string& out, std::string_view s);
std::string quoted_or_literal(std::string_view s); // quoted if safe, else {n}\r\n literal
std::string astring(std::string_view s);           // atom when possible
std::string nstring(const std::string* s);         // NIL when null
std::string upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

} // namespace splitmail::home::imap
