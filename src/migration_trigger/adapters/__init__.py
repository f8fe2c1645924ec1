"""Side effects behind small interfaces: AWS, EKS authentication, Kubernetes, notifications."""
