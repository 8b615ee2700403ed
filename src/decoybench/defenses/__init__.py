"""What the workflow and the cells share with every defense type: the builder's input
(`system.BuildJob`), the deployment's (`system.DeployRequest`) and the deployed system
(`system.DeployedSystem`). The defenses themselves live in decoybench.papers."""
