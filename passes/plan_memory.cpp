// plan-memory: see memory_plan.h for the rules. The order of the nodes is
// taken as it is; lifetimes are in node steps, inclusive (a node reads its
// inputs and writes its outputs in the same step, so both are alive then).
#include <algorithm>
#include <climits>
#include <unordered_map>
#include <unordered_set>

#include "ir/shape_inference.h"
#include "passes/memory_plan.h"
#include "passes/pass.h"
#include "support/internal_error.h"

namespace cnnc::passes {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

int64_t align(int64_t v) { return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

class Planner {
 public:
  explicit Planner(const ir::Graph& g) : g_(g), training_(g.is_training()) {}

  struct Group {
    int64_t size = 0;
    int64_t start = INT64_MAX, end = -1;  // steps
    int64_t offset = -1;
    std::vector<const Value*> members;
  };

  // Groups results into buffers and computes their lifetimes.
  void analyse() {
    const auto& nodes = g_.nodes();
    const int64_t n = static_cast<int64_t>(nodes.size());
    for (int64_t i = 0; i < n; ++i) {
      const Node& node = *nodes[static_cast<size_t>(i)];
      for (const Value* o : node.outputs) def_[o] = last_[o] = i;
      for (const Value* in : node.inputs)
        if (in->kind == ir::ValueKind::Result) last_[in] = std::max(last_[in], i);
      if (node.op == OpKind::Softmax) {
        int64_t axis = node.as<ir::SoftmaxAttrs>().axis;
        if (axis < 0) axis += node.inputs[0]->type.shape.rank();
        // Rows across images (dims before the axis) are one dim to the kernels.
        if (axis > 1) dense_only_.insert({node.inputs[0], node.outputs[0]});
      }
      if (node.op == OpKind::Concat) {
        // Likewise the slices of a concatenation after the channels: its
        // parts and the whole are seen as [outer, axis, inner], the images
        // inside `outer` (a batch-strided value there was an internal error
        // at lowering; found by random networks).
        int64_t axis = node.as<ir::ConcatAttrs>().axis;
        if (axis < 0) axis += node.outputs[0]->type.shape.rank();
        if (axis > 1) {
          dense_only_.insert(node.outputs[0]);
          dense_only_.insert(node.inputs.begin(), node.inputs.end());
        }
      }
    }
    for (const Value* o : g_.outputs()) {
      last_[o] = n;  // network outputs stay until the end
      outputs_.insert(o);
    }
    for (int64_t i = 0; i < n; ++i) group_node(*nodes[static_cast<size_t>(i)], i);
    for (Group& gr : groups_) {
      for (const Value* m : gr.members) {
        gr.start = std::min(gr.start, def_[m]);
        gr.end = std::max(gr.end, last_[m]);
      }
    }
  }

  // Places the buffers one by one in the given order, each at the best-fitting
  // gap among the already placed buffers alive at the same time.
  int64_t place_in(const std::vector<Group*>& order) {
    std::vector<const Group*> placed;
    int64_t arena = 0;
    for (Group* gr : order) {
      std::vector<const Group*> overlap;
      for (const Group* p : placed)
        if (p->start <= gr->end && gr->start <= p->end) overlap.push_back(p);
      std::sort(overlap.begin(), overlap.end(),
                [](const Group* a, const Group* b) { return a->offset < b->offset; });
      int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
      for (const Group* p : overlap) {
        int64_t gap = p->offset - cursor;
        if (gap >= gr->size && gap < best_gap) {
          best = cursor;
          best_gap = gap;
        }
        cursor = std::max(cursor, align(p->offset + p->size));
      }
      gr->offset = best >= 0 ? best : cursor;
      arena = std::max(arena, gr->offset + gr->size);
      placed.push_back(gr);
    }
    return align(arena);
  }

  // Best fit in three orders, keeping the smallest arena: largest first
  // (TFLite's greedy by size), longest-lived first, and execution order. No
  // order wins everywhere: DenseNet at batch 8 needs the second.
  int64_t place() {
    std::vector<Group*> live;
    for (Group& gr : groups_)
      if (!gr.members.empty()) live.push_back(&gr);
    using Cmp = bool (*)(const Group*, const Group*);
    const Cmp orders[] = {
        [](const Group* a, const Group* b) {
          return a->size != b->size ? a->size > b->size : a->start < b->start;
        },
        [](const Group* a, const Group* b) {
          int64_t la = a->end - a->start, lb = b->end - b->start;
          return la != lb ? la > lb : a->size > b->size;
        },
        [](const Group* a, const Group* b) {
          return a->start != b->start ? a->start < b->start : a->size > b->size;
        },
    };
    int64_t best = INT64_MAX;
    std::vector<int64_t> best_offsets;
    for (Cmp cmp : orders) {
      std::vector<Group*> order = live;
      std::stable_sort(order.begin(), order.end(), cmp);
      int64_t arena = place_in(order);
      if (arena < best) {
        best = arena;
        best_offsets.clear();
        for (const Group* gr : live) best_offsets.push_back(gr->offset);
      }
    }
    for (size_t i = 0; i < live.size(); ++i) live[i]->offset = best_offsets[i];
    return live.empty() ? 0 : best;
  }

  void assign(ir::Graph& g) {
    for (const auto& n : g.nodes())
      for (Value* o : n->outputs) {
        o->arena_offset = groups_[static_cast<size_t>(group_.at(o))].offset + within_.at(o);
        o->arena_batch_stride = batch_stride_.at(o);
      }
  }

  MemoryStats stats(std::optional<int64_t> arena) const {
    MemoryStats s;
    for (const auto& [v, step] : def_) s.naive_bytes += v->bytes();
    int64_t steps = static_cast<int64_t>(g_.nodes().size()) + 1;
    std::vector<int64_t> alive(static_cast<size_t>(steps), 0);
    for (const Group& gr : groups_) {
      if (gr.members.empty()) continue;
      ++s.buffers;
      for (int64_t t = gr.start; t <= gr.end; ++t) alive[static_cast<size_t>(t)] += gr.size;
    }
    s.lower_bound_bytes = alive.empty() ? 0 : *std::max_element(alive.begin(), alive.end());
    s.planned_bytes = arena.value_or(0);
    s.views = views_;
    s.in_place = in_place_;
    s.concat_slices = slices_;
    return s;
  }

 private:
  int new_group(const Value* v) {
    groups_.push_back(Group{align(v->bytes()), INT64_MAX, -1, -1, {v}});
    group_[v] = static_cast<int>(groups_.size() - 1);
    within_[v] = 0;
    batch_stride_[v] = 0;
    return group_[v];
  }

  // Puts `v` into the group of `x`, at x's place.
  void alias(const Value* v, const Value* x) {
    int gi = group_[x];
    groups_[static_cast<size_t>(gi)].members.push_back(v);
    group_[v] = gi;
    within_[v] = within_[x];
    batch_stride_[v] = batch_stride_[x];
  }

  // Moves every member of group `from` into group `to`, `offset` bytes in.
  // With a batch stride every image moves to its place in the images of
  // `to` (`offset` is then within an image).
  void merge(int from, int to, int64_t offset, int64_t batch_stride) {
    for (const Value* m : groups_[static_cast<size_t>(from)].members) {
      group_[m] = to;
      within_[m] += offset;
      batch_stride_[m] = batch_stride;
      groups_[static_cast<size_t>(to)].members.push_back(m);
    }
    groups_[static_cast<size_t>(from)].members.clear();
  }

  bool in_arena(const Value* x) const { return x->kind == ir::ValueKind::Result; }

  // Nothing in x's storage is needed after step i: every member dies by then.
  bool storage_free_after(const Value* x, int64_t i) const {
    for (const Value* m : groups_[static_cast<size_t>(group_.at(x))].members)
      if (last_.at(m) > i) return false;
    return true;
  }

  void group_node(const Node& n, int64_t i) {
    const Value* v = n.output();
    auto ops = ir::split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value())
        << "plan-memory on an unverified node '" << n.name() << "'";
    const Value* x = ops->data[0];
    // Results after the first (the gradients of a backward op) get buffers of their own.
    for (size_t k = 1; k < n.outputs.size(); ++k) new_group(n.outputs[k]);
    if (n.op == OpKind::Flatten && in_arena(x)) {
      alias(v, x);
      ++views_;
      return;
    }
    const bool elementwise = ir::op_info(n.op).is_activation || n.op == OpKind::Dropout ||
                             n.op == OpKind::BatchNorm || n.op == OpKind::Add;
    if (elementwise) {
      for (const Value* d : ops->data) {
        if (in_arena(d) && !outputs_.count(d) && d->bytes() == v->bytes() && last_[d] == i &&
            storage_free_after(d, i)) {
          alias(v, d);
          ++in_place_;
          return;
        }
      }
    }
    int gv = new_group(v);
    if (n.op != OpKind::Concat) return;
    int64_t axis = n.as<ir::ConcatAttrs>().axis;
    if (axis < 0) axis += v->type.shape.rank();
    // Slices are contiguous when every dim before the axis is 1. Along
    // channels at batch > 1 each image's slice is contiguous and the images
    // lie one image of the whole apart: a batch stride, which the compiled
    // kernels of inference graphs and the reference backend take (training
    // kernels read dense values).
    bool contiguous = true;
    for (int d = 0; d < axis; ++d) contiguous = contiguous && v->type.shape[d] == 1;
    if (!contiguous && (axis != 1 || training_)) return;
    const int64_t images = contiguous ? 1 : v->type.shape[0];
    int64_t offset = 0;  // within one image
    std::unordered_set<const Value*> seen;
    for (const Value* d : ops->data) {
      const int64_t bytes = d->bytes();
      const Group& gd = groups_[static_cast<size_t>(group_[d])];
      // The input's whole buffer (an alias chain of its size, or a
      // concatenation built in place) becomes the slice: every member lies
      // in it image by image, one image of d apart.
      bool ok = in_arena(d) && !outputs_.count(d) && seen.insert(d).second && group_[d] != gv &&
                gd.size == align(bytes) && within_[d] == 0 && offset % 4 == 0;
      for (const Value* m : gd.members)
        ok = ok && (contiguous || (m->type.shape.rank() > 0 && m->type.shape[0] == images &&
                                   image_stride(m) == bytes / images && !dense_only_.count(m)));
      if (ok) {
        merge(group_[d], gv, offset, contiguous ? 0 : v->bytes() / images);
        ++slices_;
      }
      offset += bytes / images;
    }
  }

  // Bytes from one image of `m` to the next.
  int64_t image_stride(const Value* m) const {
    const int64_t s = batch_stride_.at(m);
    return s ? s : m->bytes() / m->type.shape[0];
  }

  const ir::Graph& g_;
  const bool training_;
  std::unordered_map<const Value*, int64_t> def_, last_;
  std::unordered_set<const Value*> outputs_;
  std::unordered_map<const Value*, int> group_;
  std::unordered_map<const Value*, int64_t> within_;
  std::unordered_map<const Value*, int64_t> batch_stride_;  ///< 0: dense
  std::unordered_set<const Value*> dense_only_;             ///< read in views that merge images
  std::vector<Group> groups_;
  int64_t views_ = 0, in_place_ = 0, slices_ = 0;
};

class PlanMemory : public Pass {
 public:
  std::string_view name() const override { return "plan-memory"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    MemoryStats s = plan_memory(g);
    ctx.counter("buffers") += static_cast<int>(s.buffers);
    ctx.counter("views") += static_cast<int>(s.views);
    ctx.counter("in place") += static_cast<int>(s.in_place);
    ctx.counter("concat slices") += static_cast<int>(s.concat_slices);
    ctx.note({}, "arena " + std::to_string(s.planned_bytes) + " bytes; naive " +
                     std::to_string(s.naive_bytes) + ", lower bound " +
                     std::to_string(s.lower_bound_bytes));
    return true;
  }
};

}  // namespace

MemoryStats plan_memory(ir::Graph& g) {
  for (const auto& n : g.nodes())
    for (Value* o : n->outputs) {
      o->arena_offset.reset();
      o->arena_batch_stride = 0;
    }
  Planner p(g);
  p.analyse();
  int64_t arena = p.place();
  p.assign(g);
  g.arena_bytes = arena;
  return p.stats(arena);
}

MemoryStats memory_stats(const ir::Graph& g) {
  Planner p(g);
  p.analyse();
  return p.stats(g.arena_bytes);
}

std::unique_ptr<Pass> create_plan_memory() { return std::make_unique<PlanMemory>(); }

}  // namespace cnnc::passes
