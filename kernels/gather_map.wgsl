// Data movement by an index map (kernels/gather_map.ts): Y[i] = X[map[i]] on 32-bit words of any element
// type. The map is computed on the host from shapes and attributes only (the CPU evaluator's own kernel run
// on an index tensor), so Reshape, Transpose, Slice, Gather, Expand, Concat, Split, nearest Resize... all move
// their data on the GPU with this one kernel, exactly. `Params` from gather_map.ts.

@group(0) @binding(0) var<storage, read> X: array<u32>;
@group(0) @binding(1) var<storage, read> map: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(64)
fn gather_map(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  Y[i] = X[map[i]];
}
