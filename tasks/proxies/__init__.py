"""Zero-cost proxies computed in-project (issue 10 item 3).

``nb201_net`` builds the NAS-Bench-201 network in torch from its cell string;
``measures`` scores networks (data-free: params, FLOPs, synflow; batch-based on a fixed
synthetic batch: NASWOT, jacov, snip, grad_norm, fisher, grasp, epe_nas, plain);
``job`` runs them over a space as a resumable, process-parallel job whose results join the
space's cached table (``nasbench-harness data proxies``). See docs/PROXIES.md.
"""
