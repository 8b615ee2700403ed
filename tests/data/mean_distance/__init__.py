"""A minimal detection-only defense type, the shape of a new one: the L2 distance of an input
to the mean training image. tests/workflow/test_e2e.py copies this folder into a checkout's
src/decoybench/papers/ and runs it through the workflow, no other file edited."""
