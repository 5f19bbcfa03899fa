#include "remote/http/xml_stream.h"

#include <expat.h>

#include <limits>
#include <string>
#include <vector>

namespace hoardfs::http {
namespace {

// Separates the namespace URI from the local name in expat's names ("DAV:\nhref"); a newline
// cannot occur in either.
constexpr char kNsSeparator = '\n';

void SplitName(const XML_Char* full, std::string_view* ns, std::string_view* local) {
  const std::string_view name(full);
  const size_t sep = name.rfind(kNsSeparator);
  if (sep == std::string_view::npos) {
    *ns = {};
    *local = name;
  } else {
    *ns = name.substr(0, sep);
    *local = name.substr(sep + 1);
  }
}

}  // namespace

struct XmlStream::Impl {
  XmlHandler* handler;
  XmlLimits limits;
  XML_Parser parser = nullptr;
  Status status;  // the first error
  size_t fed = 0;
  unsigned depth = 0;
  // Per open element: its character data, and whether a child element has started (then its
  // text, whitespace between children as a rule, is dropped and not counted: a 100k-entry
  // multistatus has more than 64 KiB of newlines between its responses).
  std::vector<std::string> text;
  std::vector<bool> has_child;

  void Fail(Status s) {
    if (status.ok()) status = std::move(s);
    XML_StopParser(parser, XML_FALSE);
  }

  static void OnStart(void* user, const XML_Char* name, const XML_Char** /*attrs*/) {
    auto* self = static_cast<Impl*>(user);
    if (!self->status.ok()) return;
    if (++self->depth > self->limits.max_depth) {
      self->Fail(Status::Corruption("XML nested deeper than " +
                                    std::to_string(self->limits.max_depth) + " elements"));
      return;
    }
    if (!self->text.empty() && !self->has_child.back()) {
      self->has_child.back() = true;
      std::string().swap(self->text.back());
    }
    self->text.emplace_back();
    self->has_child.push_back(false);
    std::string_view ns, local;
    SplitName(name, &ns, &local);
    Status s = self->handler->OnStart(ns, local, self->depth);
    if (!s.ok()) self->Fail(std::move(s));
  }

  static void OnEnd(void* user, const XML_Char* name) {
    auto* self = static_cast<Impl*>(user);
    if (!self->status.ok()) return;
    std::string_view ns, local;
    SplitName(name, &ns, &local);
    const std::string text = std::move(self->text.back());
    self->text.pop_back();
    self->has_child.pop_back();
    Status s = self->handler->OnEnd(ns, local, self->depth, text);
    --self->depth;
    if (!s.ok()) self->Fail(std::move(s));
  }

  static void OnText(void* user, const XML_Char* data, int len) {
    auto* self = static_cast<Impl*>(user);
    if (!self->status.ok() || self->text.empty() || self->has_child.back()) return;
    std::string& t = self->text.back();
    if (t.size() + static_cast<size_t>(len) > self->limits.max_text_bytes) {
      self->Fail(Status::Corruption("XML element text longer than " +
                                    std::to_string(self->limits.max_text_bytes) + " bytes"));
      return;
    }
    t.append(data, static_cast<size_t>(len));
  }

  static void OnDoctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<Impl*>(user)->Fail(Status::Corruption("XML with a DOCTYPE is not accepted"));
  }

  static void OnEntityDecl(void* user, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                           const XML_Char*, const XML_Char*, const XML_Char*) {
    static_cast<Impl*>(user)->Fail(Status::Corruption("XML entity declarations are not accepted"));
  }

  Status ParserError() const {
    if (!status.ok()) return status;
    return Status::Corruption(std::string("malformed XML: ") +
                              XML_ErrorString(XML_GetErrorCode(parser)) + " at line " +
                              std::to_string(XML_GetCurrentLineNumber(parser)));
  }
};

XmlStream::XmlStream(XmlHandler* handler, const XmlLimits& limits) : impl_(new Impl) {
  impl_->handler = handler;
  impl_->limits = limits;
  impl_->parser = XML_ParserCreateNS(nullptr, kNsSeparator);
  if (impl_->parser == nullptr) {
    impl_->status = Status::ResourceExhausted("XML_ParserCreateNS failed");
    return;
  }
  XML_SetUserData(impl_->parser, impl_.get());
  XML_SetElementHandler(impl_->parser, &Impl::OnStart, &Impl::OnEnd);
  XML_SetCharacterDataHandler(impl_->parser, &Impl::OnText);
  XML_SetStartDoctypeDeclHandler(impl_->parser, &Impl::OnDoctype);
  XML_SetEntityDeclHandler(impl_->parser, &Impl::OnEntityDecl);
  XML_SetParamEntityParsing(impl_->parser, XML_PARAM_ENTITY_PARSING_NEVER);
}

XmlStream::~XmlStream() {
  if (impl_->parser != nullptr) XML_ParserFree(impl_->parser);
}

Status XmlStream::Feed(std::string_view chunk) {
  if (!impl_->status.ok()) return impl_->status;
  impl_->fed += chunk.size();
  if (impl_->fed > impl_->limits.max_document_bytes) {
    impl_->status = Status::Corruption("XML document larger than " +
                                       std::to_string(impl_->limits.max_document_bytes) + " bytes");
    return impl_->status;
  }
  while (!chunk.empty()) {
    const size_t piece = std::min<size_t>(chunk.size(), std::numeric_limits<int>::max() / 2);
    if (XML_Parse(impl_->parser, chunk.data(), static_cast<int>(piece), XML_FALSE) !=
        XML_STATUS_OK) {
      impl_->status = impl_->ParserError();
      return impl_->status;
    }
    chunk.remove_prefix(piece);
  }
  return Status::Ok();
}

Status XmlStream::Finish() {
  if (!impl_->status.ok()) return impl_->status;
  if (XML_Parse(impl_->parser, "", 0, XML_TRUE) != XML_STATUS_OK) {
    impl_->status = impl_->ParserError();
    return impl_->status;
  }
  return Status::Ok();
}

}  // namespace hoardfs::http
