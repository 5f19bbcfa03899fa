#include "cache/block_index.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <cstring>
#include <filesystem>

#include "common/log.h"

namespace hoardfs {
namespace {

constexpr char kBlocksCf[] = "blocks";
constexpr char kUsageCf[] = "usage";
constexpr char kMetaCf[] = "meta";
constexpr char kFilesCf[] = "files";

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }
std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(context) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::FailedPrecondition(msg + " (is another hoardfs using this cache directory?)");
  }
  if (s.IsNoSpace()) return Status::ResourceExhausted(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  return Status::IOError(std::move(msg));
}

void PutLe64(char* p, int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(u >> (8 * i));
}
int64_t GetLe64(const char* p) {
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<int64_t>(u);
}

// Sums (bytes, blocks) pairs, so usage changes ride in the same WriteBatch as the block entries.
class UsageAddOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    DatasetUsageCounter sum;
    if (existing != nullptr) {
      if (auto e = DecodeUsage(ToView(*existing))) sum = *e;
    }
    if (auto v = DecodeUsage(ToView(value))) {
      sum.bytes += v->bytes;
      sum.blocks += v->blocks;
    }
    *new_value = EncodeUsage(sum);
    return true;
  }
  const char* Name() const override { return "hoardfs.UsageAdd"; }
};

}  // namespace

std::string EncodeUsage(const DatasetUsageCounter& usage) {
  std::string out(16, '\0');
  PutLe64(out.data(), usage.bytes);
  PutLe64(out.data() + 8, usage.blocks);
  return out;
}

std::optional<DatasetUsageCounter> DecodeUsage(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  return DatasetUsageCounter{GetLe64(value.data()), GetLe64(value.data() + 8)};
}

BlockIndex::Batch::Batch(BlockIndex* index)
    : index_(index), batch_(std::make_unique<rocksdb::WriteBatch>()) {}
BlockIndex::Batch::~Batch() = default;

void BlockIndex::Batch::PutBlock(std::string_view key, const BlockEntry& entry) {
  batch_->Put(index_->blocks_, ToSlice(key), entry.Encode());
  if (index_->memo_->enabled()) block_changes_.emplace_back(key, entry);
}
void BlockIndex::Batch::DeleteBlock(std::string_view key) {
  batch_->Delete(index_->blocks_, ToSlice(key));
  if (index_->memo_->enabled()) block_changes_.emplace_back(key, std::nullopt);
}
void BlockIndex::Batch::AddUsage(std::string_view usage_key, int64_t bytes, int64_t blocks) {
  batch_->Merge(index_->usage_, ToSlice(usage_key), EncodeUsage({bytes, blocks}));
}
void BlockIndex::Batch::DeleteUsage(std::string_view usage_key) {
  batch_->Delete(index_->usage_, ToSlice(usage_key));
}
void BlockIndex::Batch::PutMeta(std::string_view key, std::string_view value) {
  batch_->Put(index_->meta_, ToSlice(key), ToSlice(value));
}
void BlockIndex::Batch::DeleteMeta(std::string_view key) {
  batch_->Delete(index_->meta_, ToSlice(key));
}
void BlockIndex::Batch::Put(Table table, std::string_view key, std::string_view value) {
  batch_->Put(index_->Handle(table), ToSlice(key), ToSlice(value));
}
void BlockIndex::Batch::Delete(Table table, std::string_view key) {
  batch_->Delete(index_->Handle(table), ToSlice(key));
}
size_t BlockIndex::Batch::count() const { return static_cast<size_t>(batch_->Count()); }

namespace {

struct OpenedDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
};

Result<OpenedDb> OpenDb(const BlockIndexOptions& o, const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 2;
  db_options.max_log_file_size = 1 << 20;
  db_options.info_log_level = rocksdb::WARN_LEVEL;
  db_options.max_total_wal_size = 2 * o.write_buffer_bytes;
  db_options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(o.write_buffer_bytes, cache);

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.format_version = 5;
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;

  rocksdb::ColumnFamilyOptions blocks_cf;
  blocks_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  blocks_cf.write_buffer_size = o.write_buffer_bytes / 2;
  blocks_cf.compression = rocksdb::kNoCompression;  // values are checksums and slot numbers
  blocks_cf.level_compaction_dynamic_level_bytes = true;
  blocks_cf.memtable_whole_key_filtering = true;
  blocks_cf.memtable_prefix_bloom_size_ratio = 0.02;

  rocksdb::ColumnFamilyOptions small_cf;
  small_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  small_cf.write_buffer_size = 4 << 20;
  rocksdb::ColumnFamilyOptions usage_cf = small_cf;
  usage_cf.merge_operator = std::make_shared<UsageAddOperator>();
  // Files: a cold listing looks up every new entry's inode number and cached attributes, right
  // after its own attributes went into the memtable: a whole-key bloom filter answers those
  // misses without a skip-list search (~80 KB per memtable).
  rocksdb::ColumnFamilyOptions files_cf = small_cf;
  files_cf.memtable_whole_key_filtering = true;
  files_cf.memtable_prefix_bloom_size_ratio = 0.02;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, small_cf},
      {kBlocksCf, blocks_cf},
      {kUsageCf, usage_cf},
      {kMetaCf, small_cf},
      {kFilesCf, files_cf},
  };
  OpenedDb opened;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, o.dir, cfs, &opened.handles, &raw);
  if (!s.ok()) return FromRocks(s, "open cache index " + o.dir);
  opened.db.reset(raw);
  return opened;
}

}  // namespace

Result<std::unique_ptr<BlockIndex>> BlockIndex::Open(const BlockIndexOptions& options) {
  auto log = Logger("cache");
  if (options.dir.empty()) return Status::InvalidArgument("cache index directory is empty");
  std::unique_ptr<BlockIndex> index(new BlockIndex());
  index->block_cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  index->memo_ = std::make_unique<BlockEntryMemo>(options.memo_keys);

  auto reset = [&](const std::string& why) -> Status {
    log->error("cache index {} {}; deleting it and starting with an empty cache", options.dir, why);
    std::error_code ec;
    std::filesystem::remove_all(options.dir, ec);
    if (ec) return Status::IOError("remove " + options.dir + ": " + ec.message());
    index->was_reset_ = true;
    return Status::Ok();
  };

  Result<OpenedDb> opened = OpenDb(options, index->block_cache_);
  if (!opened.ok() && opened.status().code() == StatusCode::kCorruption) {
    if (!options.reset_if_corrupt) {
      return opened.status().WithContext("the cache index is corrupt (reset_if_corrupt is off)");
    }
    HOARDFS_RETURN_IF_ERROR(reset("is corrupt (" + opened.status().message() + ")"));
    opened = OpenDb(options, index->block_cache_);
  }
  if (!opened.ok()) return opened.status();

  auto adopt = [&](OpenedDb db) {
    index->db_ = std::move(db.db);
    index->handles_ = std::move(db.handles);
    index->blocks_ = index->handles_[1];
    index->usage_ = index->handles_[2];
    index->meta_ = index->handles_[3];
    index->files_ = index->handles_[4];
  };
  adopt(std::move(opened).value());

  // Format and block size must match; a fresh database gets them written.
  const std::string block_size = std::to_string(options.block_size);
  HOARDFS_ASSIGN_OR_RETURN(std::optional<std::string> format, index->GetMeta("format"));
  HOARDFS_ASSIGN_OR_RETURN(std::optional<std::string> stored_bs, index->GetMeta("block_size"));
  std::string incompatible;
  if (format.has_value() && *format != kFormat) {
    incompatible = "has format '" + *format + "', this build reads '" + std::string(kFormat) + "'";
  } else if (stored_bs.has_value() && *stored_bs != block_size) {
    incompatible = "was created with block size " + *stored_bs + ", the options say " + block_size;
  } else if (!format.has_value()) {
    // No format tag: either new, or not ours / damaged. New databases have no blocks.
    std::unique_ptr<rocksdb::Iterator> it(
        index->db_->NewIterator(rocksdb::ReadOptions(), index->blocks_));
    it->SeekToFirst();
    if (it->Valid()) incompatible = "has blocks but no format tag";
  }
  if (!incompatible.empty()) {
    if (!options.reset_if_incompatible) {
      return Status::FailedPrecondition("cache index " + options.dir + " " + incompatible +
                                        "; use the same settings, or remove the cache directory to start empty");
    }
    for (auto* h : index->handles_) index->db_->DestroyColumnFamilyHandle(h);
    index->handles_.clear();
    index->db_.reset();
    HOARDFS_RETURN_IF_ERROR(reset(incompatible));
    HOARDFS_ASSIGN_OR_RETURN(OpenedDb fresh, OpenDb(options, index->block_cache_));
    adopt(std::move(fresh));
  }
  Batch batch(index.get());
  batch.PutMeta("format", kFormat);
  batch.PutMeta("block_size", block_size);
  HOARDFS_RETURN_IF_ERROR(index->Commit(&batch, /*sync=*/true));
  return index;
}

BlockIndex::~BlockIndex() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close().PermitUncheckedError();
  }
}

Status BlockIndex::Commit(Batch* batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  // Batches are mostly runs of adjacent keys (a file's blocks, a directory's entries): the hint
  // makes each insert start where the previous one ended in the memtable's skip list.
  wo.memtable_insert_hint_per_batch = true;
  if (batch->block_changes_.empty()) {
    return FromRocks(db_->Write(wo, batch->batch_.get()), "commit to cache index");
  }
  // Written and applied to the memo under one lock, so the memo sees changes in commit order.
  std::lock_guard<std::mutex> lock(block_commit_mu_);
  Status status = FromRocks(db_->Write(wo, batch->batch_.get()), "commit to cache index");
  for (const auto& [key, entry] : batch->block_changes_) {
    if (status.ok()) {
      memo_->Apply(key, entry);
    } else {
      memo_->Forget(key);  // a failed write may have reached the memtable or not
    }
  }
  return status;
}

std::vector<std::optional<BlockEntry>> BlockIndex::MultiGet(std::span<const std::string> keys) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  return MultiGet(std::span<const std::string_view>(views));
}

std::vector<std::optional<BlockEntry>> BlockIndex::MultiGet(
    std::span<const std::string_view> keys) {
  std::vector<std::optional<BlockEntry>> out(keys.size());
  // The keys the memo does not know, with their tickets, taken before RocksDB is read.
  std::vector<size_t> unknown;
  std::vector<uint64_t> tickets;
  unknown.reserve(keys.size());
  tickets.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (memo_->Find(keys[i], &out[i])) continue;
    unknown.push_back(i);
    tickets.push_back(memo_->Ticket(keys[i]));
  }
  memo_hits_.fetch_add(keys.size() - unknown.size(), std::memory_order_relaxed);
  const size_t n = unknown.size();
  if (n == 0) return out;
  std::vector<rocksdb::Slice> slices(n);
  for (size_t j = 0; j < n; ++j) slices[j] = ToSlice(keys[unknown[j]]);
  std::vector<rocksdb::PinnableSlice> values(n);
  std::vector<rocksdb::Status> statuses(n);
  db_->MultiGet(rocksdb::ReadOptions(), blocks_, n, slices.data(), values.data(), statuses.data(),
                /*sorted_input=*/false);
  for (size_t j = 0; j < n; ++j) {
    const size_t i = unknown[j];
    if (statuses[j].IsNotFound()) {
      memo_->Fill(keys[i], std::nullopt, tickets[j]);
      continue;
    }
    if (!statuses[j].ok()) continue;  // an error: a miss, not remembered
    out[i] = BlockEntry::Decode(ToView(values[j]));
    if (out[i].has_value()) {
      memo_->Fill(keys[i], out[i], tickets[j]);
    } else {
      decode_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return out;
}

Result<std::optional<BlockEntry>> BlockIndex::Get(std::string_view key) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), blocks_, ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<BlockEntry>();
  if (!s.ok()) return FromRocks(s, "cache index lookup");
  return BlockEntry::Decode(ToView(value));
}

Status BlockIndex::ScanBlocks(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::optional<BlockEntry>)>& fn) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a scan must not flush the lookup working set
  ro.readahead_size = 2 << 20;
  rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, blocks_));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    std::optional<BlockEntry> entry = BlockEntry::Decode(ToView(it->value()));
    if (!fn(ToView(it->key()), entry)) break;
  }
  return FromRocks(it->status(), "scan cache index");
}

Result<std::map<std::string, DatasetUsageCounter>> BlockIndex::ReadUsage() {
  std::map<std::string, DatasetUsageCounter> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), usage_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (auto u = DecodeUsage(ToView(it->value()))) out[std::string(ToView(it->key()))] = *u;
  }
  HOARDFS_RETURN_IF_ERROR(FromRocks(it->status(), "read usage counters"));
  return out;
}

Result<std::optional<std::string>> BlockIndex::GetMeta(std::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read cache metadata");
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<std::string, std::string>>> BlockIndex::ScanMeta(
    std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    out.emplace_back(std::string(ToView(it->key())), std::string(ToView(it->value())));
  }
  HOARDFS_RETURN_IF_ERROR(FromRocks(it->status(), "scan cache metadata"));
  return out;
}

rocksdb::ColumnFamilyHandle* BlockIndex::Handle(Table table) const {
  return table == Table::kMeta ? meta_ : files_;
}

Result<std::optional<std::string>> BlockIndex::Get(Table table, std::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Handle(table), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read cache metadata");
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<std::string, std::string>>> BlockIndex::Scan(Table table,
                                                                          std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(table)));
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    out.emplace_back(std::string(ToView(it->key())), std::string(ToView(it->value())));
  }
  HOARDFS_RETURN_IF_ERROR(FromRocks(it->status(), "scan cache metadata"));
  return out;
}

Result<bool> BlockIndex::AnyKeyWithPrefix(rocksdb::ColumnFamilyHandle* table,
                                          std::string_view prefix) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), table));
  it->Seek(ToSlice(prefix));
  const bool found = it->Valid() && it->key().starts_with(ToSlice(prefix));
  HOARDFS_RETURN_IF_ERROR(FromRocks(it->status(), "seek cache index"));
  return found;
}

Result<bool> BlockIndex::HasBlocks(std::string_view prefix) {
  return AnyKeyWithPrefix(blocks_, prefix);
}

Result<bool> BlockIndex::HasPrefix(Table table, std::string_view prefix) {
  return AnyKeyWithPrefix(Handle(table), prefix);
}

uint64_t BlockIndex::DiskBytes() const {
  uint64_t sst = 0;
  for (auto* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) sst += v;
  }
  std::error_code ec;
  uint64_t logs = 0;
  for (const auto& e : std::filesystem::directory_iterator(db_->GetName(), ec)) {
    if (e.path().extension() == ".log") logs += e.file_size(ec);
  }
  return sst + logs;
}

uint64_t BlockIndex::MemoryBytes() const {
  uint64_t total = block_cache_->GetUsage();
  for (auto* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kEstimateTableReadersMem, &v)) total += v;
  }
  return total;  // memtables are charged to the block cache by the write-buffer manager
}

Status BlockIndex::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, handles_), "flush cache index");
}

}  // namespace hoardfs
