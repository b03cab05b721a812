#pragma once
// A small streaming XML reader, just enough for DMARC aggregate reports (RFC 7489 Appendix C)
// and other machine-written XML: elements and their character data, nothing else.
//
// The reader calls a handler for each start tag, each run of character data and each end tag
// (an empty-element tag "<a/>" is a start and an end). Character data arrives decoded:
// the five predefined entities (&lt; &gt; &amp; &quot; &apos;), numeric references (&#N;
// &#xH;, as UTF-8) and CDATA sections. Element names are reported without a namespace prefix
// ("dmarc:feedback" -> "feedback").
//
// Guarantees: pure (no I/O), one pass over the input (linear time; memory is the element stack,
// at most `max_depth` names); well-formedness of what it reads is checked (one root element,
// every end tag matches its start tag, nothing but whitespace, comments and processing
// instructions outside the root, no "<" or bare "&" in character data, valid references); the
// first problem stops the read with an error naming the byte offset. Inputs above `max_input`
// are refused before reading. A handler may stop the read by returning an error text.
// Does not: read attributes (they are checked for quoting and skipped), expand a DTD (a
// DOCTYPE with an internal subset is refused, so no entity expansion bombs or external
// entities), validate against a schema, check that names and text are valid UTF-8 or that
// attribute names are unique, or normalise line ends.
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::dmarc::report_in {

inline constexpr std::size_t max_depth = 32;
inline constexpr std::size_t max_input = 64u * 1024 * 1024; // decompressed reports are capped too

struct xml_handler {
    virtual ~xml_handler() = default;
    // Each returns an error text to stop reading, or nullopt to go on.
    virtual std::optional<std::string> start(std::string_view name) = 0;
    virtual std::optional<std::string> text(std::string_view decoded) = 0;
    virtual std::optional<std::string> end(std::string_view name) = 0;
};

// Reads `doc` to its end, calling `h`. The error text says what is wrong and where
// ("XML: unclosed element <record> at end of input", "XML: offset 120: ...").
std::expected<void, std::string> read_xml(std::string_view doc, xml_handler& h);

} // namespace splitmail::dmarc::report_in
